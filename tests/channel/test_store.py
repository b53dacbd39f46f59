"""The store: released per party, idempotent, exactly-once cursors, acknowledgements, atomic batches.

Every test runs on a SQLite file and on PostgreSQL (see conftest.py).
"""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from borderwatch.channel import Store
from borderwatch.channel.audit import verify
from borderwatch.errors import ChannelError

EVERYONE = ["iq-mod", "sy-gov", "sdf", "tr", "us"]


@pytest.fixture
def store(store_url, deployment):
    with Store(store_url, deployment) as s:
        yield s


def traffic(ids, n: int, seed: int = 1):
    """A mixed stream: every sender, every kind, each released to everyone it names."""
    rng = random.Random(seed)
    kinds = ["sighting", "track", "breach", "request", "acknowledgement", "text"]
    out = []
    for i in range(n):
        sender = rng.choice(EVERYONE)
        others = [p for p in EVERYONE if p != sender]
        out.append(ids[sender].seal(rng.choice(kinds), {"n": i}, releasable_to=rng.sample(
            others, rng.randint(0, len(others)))))
    return out


def test_publish_then_fetch_in_order(store, ids):
    sent = [ids["iq-mod"].seal("breach", {"n": i, "lat": 34.4 + i / 10}, releasable_to=["tr", "us"])
            for i in range(5)]
    receipts = store.publish_many(sent)
    assert [r.position for r in receipts] == [1, 2, 3, 4, 5]
    assert all(r.recipients == ("iq-mod", "tr", "us") for r in receipts)
    got = store.fetch("tr")
    assert [d.envelope for d in got] == sent
    assert [d.position for d in got] == [1, 2, 3, 4, 5]
    assert store.get("us", sent[2].id).envelope == sent[2]
    assert store.count("sdf") == 0 and store.count("tr") == 5


def test_a_party_never_sees_what_is_not_released_to_it(store, ids):
    # The US releases a sighting to everyone; the rules allow detections to Iraq and the US only.
    secret = ids["us"].seal("sighting", {"own_forces": "Qayyarah"}, releasable_to=EVERYONE)
    public = ids["iq-mod"].seal("breach", {"sector": 7}, releasable_to=EVERYONE)
    receipt = store.publish(secret)
    store.publish(public)
    assert receipt.recipients == ("iq-mod", "us")
    assert receipt.withheld == ("sy-gov", "sdf", "tr")

    assert [d.envelope.id for d in store.fetch("tr")] == [public.id]
    assert [d.envelope.id for d in store.search("tr", kind="sighting")] == []
    assert [d.envelope.id for d in store.search("tr", sender="us")] == []
    assert store.count("tr") == 1 and store.count("tr", kind="sighting") == 0
    # Positions are Turkey's own: no gap betrays the message it cannot see.
    assert [d.position for d in store.fetch("tr")] == [1]
    # Asking by id, acknowledging, or listing acknowledgements reads exactly like
    # asking about an envelope that does not exist.
    nobody = uuid.uuid4()
    for call in (store.get, store.acknowledge, store.acknowledgements):
        with pytest.raises(ChannelError) as hidden:
            call("tr", secret.id)
        with pytest.raises(ChannelError) as missing:
            call("tr", nobody)
        assert str(hidden.value).replace(str(secret.id), "ID") == \
            str(missing.value).replace(str(nobody), "ID")
        assert "own_forces" not in str(hidden.value)
    assert store.fetch("us")[0].envelope == secret


def test_search_filters(store, ids):
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    sent = [ids[s].seal(k, {"i": i}, releasable_to=EVERYONE, created=t0 + timedelta(hours=i))
            for i, (s, k) in enumerate([("iq-mod", "breach"), ("us", "text"), ("iq-mod", "text")])]
    store.publish_many(sent)
    assert [d.envelope for d in store.search("sdf", kind="text")] == sent[1:]
    assert [d.envelope for d in store.search("sdf", sender="iq-mod")] == [sent[0], sent[2]]
    assert [d.envelope for d in store.search("sdf", since=t0 + timedelta(hours=1),
                                             until=t0 + timedelta(hours=2))] == [sent[1]]
    assert store.count("sdf", sender="us") == 1


def test_a_resent_envelope_is_stored_once(store, ids):
    env = ids["sdf"].seal("track", {"track": 12}, releasable_to=["iq-mod", "us"])
    first = store.publish(env)
    again = store.publish(env)
    same_batch = store.publish_many([env, env])
    assert not first.duplicate and again.duplicate and all(r.duplicate for r in same_batch)
    assert again.position == first.position == same_batch[0].position
    assert store.count("iq-mod") == 1 and store.head().seq == 1
    # The copy that travelled through JSON is the same envelope.
    from borderwatch.channel import Envelope
    assert store.publish(Envelope.from_json(env.to_json())).duplicate


def test_same_id_with_other_content_is_refused(store, ids):
    env = ids["sdf"].seal("track", {"track": 12}, releasable_to=["iq-mod"])
    store.publish(env)
    other = ids["sdf"].seal("track", {"track": 13}, releasable_to=["iq-mod"], id=env.id)
    with pytest.raises(ChannelError, match=f"envelope {env.id}: .*already stored with different content"):
        store.publish(other)
    assert store.get("iq-mod", env.id).envelope == env


def test_forged_and_altered_envelopes_are_refused(store, ids):
    forged = replace(ids["tr"].seal("breach", {"x": 1}, releasable_to=EVERYONE), sender="iq-mod")
    with pytest.raises(ChannelError, match='does not verify with the key of "iq-mod"'):
        store.publish(forged)
    good = ids["iq-mod"].seal("breach", {"x": 1}, releasable_to=["us"])
    widened = replace(good, releasable_to=("us", "tr"))
    with pytest.raises(ChannelError, match="forged, or altered"):
        store.publish(widened)
    assert store.head().seq == 0


def test_a_failing_batch_stores_nothing(store, ids):
    store.publish(ids["us"].seal("text", {"i": 0}, releasable_to=["iq-mod"]))
    head = store.head()
    taken = store.fetch("us")[0].envelope
    batch = traffic(ids, 20)
    batch.insert(10, ids["us"].seal("text", {"i": "clash"}, releasable_to=["iq-mod"], id=taken.id))
    with pytest.raises(ChannelError, match="already stored with different content"):
        store.publish_many(batch)
    assert store.head() == head
    assert store.count("iq-mod") == 1
    batch[3] = replace(batch[3], signature=bytes(64))
    with pytest.raises(ChannelError, match="does not verify"):
        store.publish_many(batch)
    assert store.head() == head


def test_unknown_party_and_bad_arguments(store, ids):
    with pytest.raises(ChannelError, match='unknown party "nato"'):
        store.fetch("nato")
    with pytest.raises(ChannelError, match="limit: must be an integer from 1"):
        store.fetch("tr", limit=0)
    with pytest.raises(ChannelError, match="is not a UUID"):
        store.get("tr", "x' OR 1=1 --")


def test_cursor_resume_gets_every_message_exactly_once(store_url, deployment, ids):
    """A client reads in random-sized pieces and disconnects (store closed and reopened)
    between pieces while others keep publishing: it sees each of its messages once, in order."""
    rng = random.Random(7)
    stream = traffic(ids, 120, seed=3)
    expected = [e.id for e in stream if "tr" in deployment.policy.recipients(e)]
    received = []
    sent = 0
    while sent < len(stream) or len(received) < len(expected):
        with Store(store_url, deployment) as s:
            k = rng.randint(0, 15)
            s.publish_many(stream[sent:sent + k])
            sent += k
            for d in s.fetch("tr", limit=rng.randint(1, 10)):
                received.append(d.envelope.id)
                last = d.position
                if rng.random() < 0.9:   # sometimes the connection drops before the cursor moves
                    s.advance("tr", last)
                else:
                    received.pop()       # ... so the client drops what it could not confirm
                    break
    assert received == expected
    with Store(store_url, deployment) as s:
        assert s.cursor("tr") == len(expected)
        assert s.fetch("tr") == []


def test_cursor_only_moves_forward_and_not_past_the_end(store, ids):
    store.publish_many(traffic(ids, 10))
    n = store.count("us")
    store.advance("us", 2)
    with pytest.raises(ChannelError, match='cursor of "us": cannot move back from 2 to 1'):
        store.advance("us", 1)
    with pytest.raises(ChannelError, match="past the last envelope released to it"):
        store.advance("us", n + 1)
    store.advance("us", n)
    assert store.cursor("us") == n and store.fetch("us") == []


def test_acknowledgements(store, ids):
    alert = ids["iq-mod"].seal("breach", {"sector": 3}, releasable_to=["tr", "us"])
    store.publish(alert)
    at = datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=timezone.utc)
    first = store.acknowledge("tr", alert.id, at=at)
    again = store.acknowledge("tr", str(alert.id))
    assert first.at == again.at == at
    store.acknowledge("us", alert.id)
    # The sender sees who has read its alert; a recipient sees only its own acknowledgement.
    assert [a.party for a in store.acknowledgements("iq-mod", alert.id)] == ["tr", "us"]
    assert [a.party for a in store.acknowledgements("tr", alert.id)] == ["tr"]
    with pytest.raises(ChannelError, match=f'envelope {alert.id}: no such envelope for "sdf"'):
        store.acknowledge("sdf", alert.id)


def test_a_store_belongs_to_one_deployment(store_url, deployment, iraq_syria, tmp_path):
    from borderwatch.channel import create_deployment

    Store(store_url, deployment).close()
    other = create_deployment(iraq_syria, tmp_path / "other")
    with pytest.raises(ChannelError, match="this store belongs to deployment"):
        Store(store_url, other)


def test_concurrent_writers_without_group_commit(store_url, deployment, ids):
    """Several threads, each with its own Store (like separate processes), publish at once."""
    batches = [traffic(ids, 15, seed=s) for s in range(4)]
    errors = []

    def work(batch):
        try:
            with Store(store_url, deployment) as s:
                for env in batch:
                    s.publish(env)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(store_url, deployment) as s:
        assert s.head().seq == 60
        assert verify(s).ok
        for party in EVERYONE:
            positions = [d.position for d in s.fetch(party, after=0, limit=1000)]
            assert positions == list(range(1, len(positions) + 1))


def test_sqlite_runs_in_wal_mode(tmp_path, deployment):
    import sqlite3

    Store(tmp_path / "c.db", deployment).close()
    assert sqlite3.connect(tmp_path / "c.db").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_bad_urls(deployment, tmp_path):
    with pytest.raises(ChannelError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "c.db", deployment)
    with pytest.raises(ChannelError, match="runs on SQLite or PostgreSQL, not mysql"):
        Store("mysql://u:secret@h/db", deployment)
    with pytest.raises(ChannelError, match="cannot open the channel store") as info:
        Store("postgresql+psycopg://u:secret@127.0.0.1:1/db", deployment)
    assert "secret" not in str(info.value)


def test_racing_acknowledgements_and_cursor_moves(store_url, deployment, ids):
    """Many connections acknowledge the same alert and move the same cursor at once."""
    with Store(store_url, deployment) as s:
        alert = ids["iq-mod"].seal("breach", {"sector": 1}, releasable_to=EVERYONE)
        s.publish(alert)
    errors = []
    start = threading.Barrier(6)

    def work():
        try:
            with Store(store_url, deployment) as s:
                start.wait()
                s.acknowledge("tr", alert.id)
                s.advance("tr", 1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store(store_url, deployment) as s:
        assert len(s.acknowledgements("iq-mod", alert.id)) == 1 and s.cursor("tr") == 1


def test_prepare_with_body_text_still_checks_parties_and_signature(store, ids, deployment):
    from borderwatch.channel.envelope import read_envelope

    env = ids["us"].seal("text", {"i": 1}, releasable_to=["tr"])
    checked, body_text = read_envelope(env.to_json(), parties=deployment.party_ids)
    assert store.prepare(checked, body_text=body_text).row == store.prepare(env).row
    with pytest.raises(ChannelError, match="does not verify"):
        store.prepare(replace(checked, signature=bytes(64)), body_text=body_text)
    with pytest.raises(ChannelError, match="unknown party"):
        store.prepare(replace(checked, releasable_to=("nobody",)), body_text=body_text)


def test_interleaved_stores_and_duplicates_keep_streams_dense(store_url, deployment, ids):
    """The commit's shortcuts (no id lookup first; positions remembered from this Store's
    last commit) give way whenever another writer moved the chain or an id is stored."""
    with Store(store_url, deployment) as a, Store(store_url, deployment) as b:
        sent = traffic(ids, 40, seed=7)
        for i in range(0, 40, 4):
            (a if (i // 4) % 2 else b).publish_many(sent[i:i + 4])
            # A copy already stored, mixed with new ones, through the other store.
            again = (b if (i // 4) % 2 else a).publish_many([sent[i], *traffic(ids, 1, seed=100 + i)])
            assert again[0].duplicate and not again[1].duplicate
        assert a.publish(sent[3]).duplicate
        assert a.head() == b.head() and a.head().seq == 50
        assert verify(a).ok
        for party in EVERYONE:
            positions = [d.position for d in a.fetch(party, after=0, limit=1000)]
            assert positions == list(range(1, len(positions) + 1))


def test_record_bytes_is_what_the_commit_hashed(store, ids):
    from borderwatch.channel.store import chain_hash, record_bytes

    store.publish_many(traffic(ids, 12, seed=3))
    prev = "0" * 64
    for rec in store.raw_records():
        assert rec.row["prev_hash"] == prev
        prev = chain_hash(prev, record_bytes(rec.row, rec.recipients))
        assert rec.row["hash"] == prev


def test_a_batch_larger_than_one_insert_statement(store, ids):
    """A commit's rows go in as multi-row INSERTs of a bounded size (SQLite); a batch that
    spans several statements is still stored whole, in order, or not at all."""
    from borderwatch.channel.store import _SQLITE_MAX_VARIABLES

    n = 3 * _SQLITE_MAX_VARIABLES // 12 + 7     # past three statements of envelope rows
    store.publish(ids["iq-mod"].seal("breach", {"i": -1}, releasable_to=EVERYONE))
    sent = [ids["iq-mod"].seal("breach", {"i": i}, releasable_to=EVERYONE) for i in range(n)]
    clash = ids["iq-mod"].seal("breach", {"i": "clash"}, releasable_to=EVERYONE,
                               id=store.fetch("iq-mod")[0].envelope.id)
    head = store.head()
    with pytest.raises(ChannelError, match="already stored with different content"):
        store.publish_many([*sent[:-1], clash])          # refused in the last statement
    assert store.head() == head and store.count("iq-mod") == 1
    receipts = store.publish_many(sent)
    assert [r.position for r in receipts] == list(range(2, n + 2))
    assert store.head().seq == n + 1
    for party in receipts[0].recipients:
        got = store.fetch(party, after=0, limit=n + 10)
        assert [d.position for d in got] == list(range(1, n + 2))
        assert [d.envelope for d in got[1:]] == sent
    assert len(receipts[0].recipients) >= 3
    assert verify(store).ok
