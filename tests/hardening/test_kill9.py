"""Kill the channel server with SIGKILL mid-stream; restart; nothing acknowledged is lost.

A real `borderwatch channel serve` process (SQLite store, signed tokens over
loopback HTTP) takes publishes from a client thread; at a random moment the
server is killed with SIGKILL. After a restart on the same store:

- every envelope whose publish the server acknowledged (HTTP 200/201) is
  there exactly once;
- an envelope sent but not acknowledged is either absent or present once;
- `channel audit verify` passes (hash chain and signatures);
- a party's cursor resumes: reading from it yields each message once.

`make test` runs a few rounds; `make soak` runs 50.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from borderwatch import load_scenario
from borderwatch.channel import Store, create_deployment, load_deployment
from borderwatch.channel.audit import verify
from borderwatch.channel.client import ChannelClient, ChannelHTTPError

ROUNDS_TEST = 3
ROUNDS_SOAK = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(dep_dir: Path, db: Path, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "borderwatch.cli", "channel", "serve", str(dep_dir), "--store", str(db),
           "--no-tls", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start within 30 s")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill9")
    create_deployment(load_scenario("iraq-syria"), root / "dep")
    return root / "dep"


def _round(dep_dir: Path, db: Path, rng: random.Random, sent_total: list, acked_total: list) -> None:
    dep = load_deployment(dep_dir)
    port = _free_port()
    proc = _serve(dep_dir, db, port)
    owner = dep.policy.owner
    client = ChannelClient(f"http://127.0.0.1:{port}", dep.identity(owner), keys=dep)
    stop = threading.Event()

    def publish_loop() -> None:
        while not stop.is_set():
            env = client.seal("sighting", {"n": len(sent_total)}, releasable_to=dep.party_ids)
            sent_total.append(env.id)
            try:
                client.publish(env)
            except (ChannelHTTPError, OSError, Exception):   # the server died under us
                return
            acked_total.append(env.id)

    workers = [threading.Thread(target=publish_loop) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(rng.uniform(0.3, 1.5))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stop.set()
    for w in workers:
        w.join(timeout=30)
    client.close()


def _check(dep_dir: Path, db: Path, sent: list, acked: list) -> None:
    dep = load_deployment(dep_dir)
    with Store(db, dep) as store:
        report = verify(store, dep)
        assert report.ok, report.problems[:3]
        owner = dep.policy.owner
        seen = []
        after = 0
        while True:
            page = store.fetch(owner, after=after, limit=1000)
            if not page:
                break
            seen += [d.envelope.id for d in page]
            after = page[-1].position
        assert len(seen) == len(set(seen)), "an envelope is stored twice"
        stored = set(seen)
        missing = [e for e in acked if e not in stored]
        assert not missing, f"{len(missing)} acknowledged envelopes lost, e.g. {missing[0]}"
        assert stored <= set(sent), "the store holds an envelope nobody sent"
        # Cursor resume: a party reading in pieces with its cursor gets each message once.
        party = [p for p in dep.party_ids if p != owner][0]
        got = []
        while True:
            page = store.fetch(party, limit=37)
            if not page:
                break
            got += [d.envelope.id for d in page]
            store.advance(party, page[-1].position)
        assert len(got) == len(set(got))


def _run(deployment: Path, tmp_path: Path, rounds: int, seed: int) -> None:
    db = tmp_path / "store.db"
    rng = random.Random(seed)
    sent: list = []
    acked: list = []
    for _ in range(rounds):
        _round(deployment, db, rng, sent, acked)
        _check(deployment, db, sent, acked)
    assert len(acked) > rounds * 5, "too few publishes were acknowledged to prove anything"
    print(f"kill -9: {rounds} rounds, {len(sent)} publishes sent, {len(acked)} acknowledged, "
          f"{len(sent) - len(acked)} cut off by the kill; none acknowledged was lost")


def test_sigkill_mid_stream_loses_nothing_acknowledged(deployment, tmp_path):
    _run(deployment, tmp_path, ROUNDS_TEST, seed=1)


@pytest.mark.soak
def test_sigkill_fifty_times(deployment, tmp_path):
    _run(deployment, tmp_path, ROUNDS_SOAK, seed=2)
