"""`borderwatch serve` stopped with SIGTERM (systemd, ``docker stop``) closes cleanly.

A real server process takes sightings from a field unit over plain TCP; as soon
as its statistics line shows it has received them all, it gets SIGTERM. It
must exit 0 after sealing and storing everything it had received: the store
holds every sighting once and `channel audit verify` passes. Before the
server handled SIGTERM, Python died at once and the reports still waiting
to be sealed were lost.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from borderwatch import load_scenario
from borderwatch.channel import Store, create_deployment
from borderwatch.channel.audit import verify
from borderwatch.channel.cot import parse_cot, to_cot_xml
from borderwatch.channel.tak_server import sighting_event

N = 2_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_seals_and_stores_everything_received(tmp_path):
    dep = create_deployment(load_scenario("iraq-syria"), tmp_path / "dep")
    db = tmp_path / "channel.db"
    port = _free_port()
    cmd = [sys.executable, "-m", "borderwatch.cli", "serve", str(dep.path), "--store", str(db),
           "--tls-port", "0", "--http-port", "0", "--tcp-party", "us", "--tcp-port", str(port),
           "--stats-every", "0.05"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                unit = socket.create_connection(("127.0.0.1", port), timeout=1.0)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        now = datetime.now(timezone.utc)
        unit.sendall(b"".join(to_cot_xml(sighting_event(f"p-{k % 100}", 34.4 + (k % 100) * 1e-4,
                                                        41.0 + (k // 100) * 1e-4, callsign="EAGLE-2",
                                                        when=now + timedelta(seconds=k // 100),
                                                        remarks=f"seq {k}"))
                              for k in range(N)))
        seen = []
        for line in proc.stdout:                   # the statistics line says when all are in
            seen.append(line)
            m = re.search(r"in (\d+) sightings", line)
            if m and int(m.group(1)) == N:
                break
            assert time.monotonic() < deadline, "".join(seen[-5:])
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
        unit.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest[-2000:]
    assert f"stopped: {N} reports stored" in rest
    with Store(str(db), dep) as store:
        found = store.search("us", kind="sighting", limit=10_000)
        seqs = sorted(int(parse_cot(x.encode()).remarks.split()[1]) for d in found for x in d.envelope.body["cot"])
        assert seqs == list(range(N))
        assert verify(store).ok
