"""`borderwatch channel serve` stopped by Ctrl-C or SIGTERM ends cleanly, as `serve` does.

Ctrl-C in a terminal sends SIGINT to the whole process group, the signature
helper included: it printed a KeyboardInterrupt traceback while the server
was still shutting down. SIGTERM (systemd, ``docker stop``) shut the server
down gracefully and then killed it with the same signal (uvicorn raises it
again), so the process ended with -15 and its store was never closed. Now
both end with exit 0, one line saying why, no traceback, no process left
behind, and the store whole.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from borderwatch import load_scenario
from borderwatch.channel import Store, create_deployment
from borderwatch.channel.audit import verify
from borderwatch.channel.batch_verify import MIN_BATCH
from borderwatch.channel.client import ChannelClient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gone(pgid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_channel_serve_stops_cleanly(tmp_path, how):
    dep = create_deployment(load_scenario("iraq-syria"), tmp_path / "dep")
    db = tmp_path / "channel.db"
    port = _free_port()
    cmd = [sys.executable, "-m", "borderwatch.cli", "channel", "serve", str(dep.path), "--store", str(db),
           "--no-tls", "--port", str(port)]
    # A session of its own: the server, its fork server and its helper are one process group,
    # as in a terminal, where Ctrl-C signals them all.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        owner = dep.identity(dep.policy.owner)
        client = ChannelClient(f"http://127.0.0.1:{port}", owner, keys=dep)
        batch = [client.seal("breach", {"i": i}, releasable_to=dep.party_ids) for i in range(MIN_BATCH + 2)]
        receipts = client.publish_many(batch)          # large enough to go through the helper
        assert len(receipts) == len(batch)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out[-3000:]
    name = "SIGINT" if how == "ctrl-c" else "SIGTERM"
    assert f"{name}: stopped" in out and "closed" in out, out[-1000:]
    assert _gone(proc.pid), "a process of the server's group is still running"
    with Store(db, dep) as store:
        assert store.head().seq == len(batch)
        assert verify(store).ok
