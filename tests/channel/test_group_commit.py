"""Group commit: concurrent publishers share transactions; every envelope stored once."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace

import pytest

from borderwatch.channel import GroupCommitter, Store, verify
from borderwatch.errors import ChannelError

EVERYONE = ["iq-mod", "sy-gov", "sdf", "tr", "us"]
THREADS, EACH = 8, 40


@pytest.fixture
def store(store_url, deployment):
    with Store(store_url, deployment) as s:
        yield s


def test_concurrent_publishers_share_commits(store, ids):
    per_thread = [[ids[p].seal("breach", {"t": t, "i": i}, releasable_to=EVERYONE)
                   for i in range(EACH)] for t, p in enumerate(EVERYONE * 2)][:THREADS]
    receipts: dict[int, list] = {}
    start = threading.Barrier(THREADS)

    with GroupCommitter(store) as committer:
        def work(t: int) -> None:
            start.wait()
            # Every envelope twice: the re-send must be answered, not stored again.
            receipts[t] = [committer.publish(e) for e in per_thread[t] + per_thread[t][:5]]

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        batches = committer.batches

    total = THREADS * EACH
    assert store.head().seq == total
    assert store.count("tr") == total
    assert len({d.envelope.id for d in store.fetch("tr", limit=total)}) == total
    for t in range(THREADS):
        first, again = receipts[t][:EACH], receipts[t][EACH:]
        assert [r.duplicate for r in again] == [True] * 5
        assert [r.position for r in again] == [r.position for r in first[:5]]
    assert batches < total + THREADS * 5          # some commits carried several envelopes
    assert verify(store).ok


def test_a_bad_envelope_fails_alone(store, ids):
    good = [ids["us"].seal("text", {"i": i}, releasable_to=["iq-mod"]) for i in range(5)]
    bad = replace(ids["us"].seal("text", {"i": 99}, releasable_to=["iq-mod"]), signature=bytes(64))
    stored = ids["us"].seal("text", {"i": -1}, releasable_to=["iq-mod"])
    store.publish(stored)
    clash = ids["us"].seal("text", {"i": -2}, releasable_to=["iq-mod"], id=stored.id)
    with GroupCommitter(store) as committer:
        futures = [committer.submit(e) for e in good[:2] + [bad, clash] + good[2:]]
        with pytest.raises(ChannelError, match="does not verify"):
            futures[2].result()
        with pytest.raises(ChannelError, match="already stored with different content"):
            futures[3].result()
        assert [f.result().duplicate for f in futures[:2] + futures[4:]] == [False] * 5
    assert store.count("us") == 6


def test_publish_async(store, ids):
    async def main(committer):
        envs = [ids["sdf"].seal("track", {"i": i}, releasable_to=["us"]) for i in range(20)]
        return await asyncio.gather(*(committer.publish_async(e) for e in envs))

    with GroupCommitter(store) as committer:
        receipts = asyncio.run(main(committer))
    assert sorted(r.position for r in receipts) == list(range(1, 21))
    assert store.count("us") == 20


def test_closed_committer_refuses(store, ids):
    committer = GroupCommitter(store)
    committer.close()
    with pytest.raises(ChannelError, match="closed"):
        committer.publish(ids["us"].seal("text", {"i": 1}, releasable_to=[]))


def test_units_are_all_or_nothing_and_listeners_hear_commit_order(store, ids):
    stored = ids["us"].seal("text", {"i": -1}, releasable_to=["tr"])
    store.publish(stored)
    heard: list = []
    units = [[store.prepare(ids["us"].seal("text", {"u": u, "i": i}, releasable_to=["tr"]))
              for i in range(3)] for u in range(4)]
    clash = store.prepare(ids["us"].seal("text", {"i": -2}, releasable_to=["tr"], id=stored.id))
    units[2].append(clash)            # unit 2 must fail whole; the others are stored
    with GroupCommitter(store) as committer:
        committer.add_listener(lambda items: heard.extend(items))
        futures = [committer.submit_prepared(u) for u in units]
        with pytest.raises(ChannelError, match="already stored with different content"):
            futures[2].result()
        for k in (0, 1, 3):
            assert [r.duplicate for r in futures[k].result()] == [False] * 3
    assert store.count("tr") == 1 + 9
    positions = [dict(r.positions)["tr"] for r, _ in heard]
    assert positions == sorted(positions) == list(range(2, 11))
    assert {p.envelope.id for _, p in heard} == {p.envelope.id for k in (0, 1, 3) for p in units[k]}
    assert verify(store).ok


def test_jobs_check_in_the_pool_and_close_commits_what_is_pending(store, ids):
    envs = [ids["sdf"].seal("track", {"i": i}, releasable_to=["us"]) for i in range(30)]
    committer = GroupCommitter(store, linger_s=0.001)

    def failing():
        raise ChannelError("job refused")

    bad = committer.submit_job(failing)
    futures = [committer.submit_job(lambda e=e: [store.prepare(e)]) for e in envs]
    committer.close()
    with pytest.raises(ChannelError, match="job refused"):
        bad.result()
    assert sorted(f.result()[0].position for f in futures) == list(range(1, 31))
    with pytest.raises(ChannelError, match="closed"):
        committer.submit_job(lambda: []).result()
