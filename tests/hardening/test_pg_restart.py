"""PostgreSQL restarts under a running channel server: it reconnects, nothing acknowledged is lost."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from borderwatch import load_scenario
from borderwatch.channel import Store, create_deployment, load_deployment
from borderwatch.channel.audit import verify
from borderwatch.channel.client import ChannelClient, ChannelHTTPError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_kill9 import _free_port, _serve  # noqa: E402


def test_database_restart_while_serving(pg_cluster, tmp_path):
    create_deployment(load_scenario("iraq-syria"), tmp_path / "dep")
    dep = load_deployment(tmp_path / "dep")
    url = pg_cluster.url
    with Store(url, dep):
        pass                                        # create the schema
    port = _free_port()
    proc = _serve(tmp_path / "dep", url, port)      # _serve passes --store through unchanged
    owner = dep.policy.owner
    acked, failed = [], []
    stop = threading.Event()
    client = ChannelClient(f"http://127.0.0.1:{port}", dep.identity(owner))

    def loop() -> None:
        while not stop.is_set():
            env = client.seal("sighting", {"n": len(acked) + len(failed)}, releasable_to=dep.party_ids)
            try:
                client.publish(env)
                acked.append(env.id)
            except ChannelHTTPError as exc:
                failed.append((env.id, exc.status, str(exc)))
                time.sleep(0.05)

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        time.sleep(1.0)
        before = len(acked)
        pg_cluster.stop("fast")
        time.sleep(1.0)                              # the database is down: publishes must fail cleanly
        pg_cluster.start()
        deadline = time.monotonic() + 30
        n_at_restart = len(acked)
        while len(acked) < n_at_restart + 20 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(timeout=30)
        client.close()
    try:
        assert before > 5, "nothing was published before the restart"
        assert failed, "no publish failed while the database was down"
        for _, status, text in failed:
            assert 500 <= status < 600 and "Traceback" not in text, text
        assert len(acked) >= n_at_restart + 20, "the server did not recover after the database came back"
        assert proc.poll() is None, "the server died with the database"
        print(f"pg restart: {before} acknowledged before, {len(failed)} refused while down "
              f"(e.g. {failed[0][1]} {failed[0][2]!r}), {len(acked)} acknowledged in all")
    finally:
        proc.terminate()
        proc.wait()
    with Store(url, dep) as store:
        assert verify(store, dep).ok
        seen = [d.envelope.id for d in store.fetch(owner, after=0, limit=10_000)]
    assert len(seen) == len(set(seen))
    assert set(acked) <= set(seen)
    # A publish that failed may have been committed before the connection dropped
    # (the client never heard back); it must then be there once, never half.
    assert set(seen) <= set(acked) | {f[0] for f in failed}
