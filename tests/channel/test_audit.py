"""The audit chain finds the first altered, inserted or removed record.

Each test tampers with the database behind the store's back, with plain SQL
on the SQLite file (or the PostgreSQL database), then runs `verify`.
"""

from __future__ import annotations

import json

import pytest

from borderwatch.channel import Store, verify
from borderwatch.channel.store import chain_hash, record_bytes
from borderwatch.errors import ChannelError

EVERYONE = ["iq-mod", "sy-gov", "sdf", "tr", "us"]


@pytest.fixture
def filled(store_url, deployment, ids):
    """A store with ten envelopes from several parties; yields (store, url)."""
    with Store(store_url, deployment) as s:
        senders = ["iq-mod", "us", "sdf", "tr", "sy-gov"] * 2
        kinds = ["breach", "sighting", "track", "text", "request"] * 2
        s.publish_many([ids[p].seal(k, {"n": i}, releasable_to=EVERYONE)
                        for i, (p, k) in enumerate(zip(senders, kinds), start=1)])
        yield s, store_url


def record(store, seq):
    return next(r for r in store.raw_records() if r.seq == seq)


def test_an_untouched_store_verifies(filled):
    store, _ = filled
    report = verify(store)
    assert report.ok and report.records == 10 and report.head == store.head()
    report.raise_if_bad()


def test_an_altered_body_is_found(filled, raw_sql):
    store, url = filled
    raw_sql(url, ("UPDATE envelopes SET body = ? WHERE seq = 4", (json.dumps({"n": 40}),)))
    report = verify(store)
    assert report.first_bad.seq == 4
    assert "signature" in report.first_bad.reason and "altered" in report.first_bad.reason
    with pytest.raises(ChannelError, match=r"audit failed: record 4 \(envelope [0-9a-f-]+\): signature"):
        report.raise_if_bad()


def test_a_leak_through_the_recipients_table_is_found(filled, raw_sql):
    store, url = filled
    # Record 2 is a US sighting: not released to Turkey. Someone adds Turkey as a recipient.
    assert "tr" not in record(store, 2).recipients
    raw_sql(url, "INSERT INTO recipients (seq, party, position) VALUES (2, 'tr', 1000)")
    report = verify(store)
    assert report.first_bad.seq == 2
    assert "hash does not match" in report.first_bad.reason


def test_an_altered_and_rehashed_record_is_found_at_the_next_link(filled, raw_sql):
    store, url = filled
    rec = record(store, 5)
    row = dict(rec.row, stored="2020-01-01T00:00:00.000000Z")
    new_hash = chain_hash(row["prev_hash"], record_bytes(row, rec.recipients))
    raw_sql(url, ("UPDATE envelopes SET stored = ?, hash = ? WHERE seq = 5", (row["stored"], new_hash)))
    report = verify(store)
    assert report.first_bad.seq == 6
    assert "does not link to record 5" in report.first_bad.reason


def test_a_removed_record_is_found(filled, raw_sql):
    store, url = filled
    raw_sql(url, "DELETE FROM acks", "DELETE FROM recipients WHERE seq = 3",
            "DELETE FROM envelopes WHERE seq = 3")
    report = verify(store)
    assert report.first_bad.seq == 4
    assert "record 3 is missing after record 2 (removed)" in report.first_bad.reason


def test_removing_the_last_record_is_found(filled, raw_sql):
    store, url = filled
    raw_sql(url, "DELETE FROM recipients WHERE seq = 10", "DELETE FROM envelopes WHERE seq = 10")
    report = verify(store)
    assert not report.ok
    assert "chain ends at record 9 but the store's head records 10: record 10 was removed" \
        in report.first_bad.reason
    assert report.first_bad.seq is None  # no record is bad; the chain is short


def test_a_forged_record_inserted_in_the_middle_is_found(filled, ids, raw_sql):
    store, url = filled
    # Shift records 6.. up by one and slip in an envelope Turkey signed but
    # claims Iraq sent, linked and hashed correctly.
    forged = ids["tr"].seal("breach", {"fake": True}, releasable_to=EVERYONE)
    prev = record(store, 5).row["hash"]
    row = {"seq": 6, "id": str(forged.id), "sender": "iq-mod", "kind": "breach",
           "created": forged.to_dict()["created"], "caveat": "", "stored": "2024-01-01T00:00:00.000000Z",
           "releasable_to": json.dumps(EVERYONE, separators=(",", ":")),
           "body": '{"fake":true}', "signature": forged.to_dict()["signature"], "prev_hash": prev}
    row["hash"] = chain_hash(prev, record_bytes(row, {"iq-mod": 99}))
    cols = ", ".join(row)
    raw_sql(url, "UPDATE recipients SET seq = seq + 100 WHERE seq >= 6",
            "UPDATE envelopes SET seq = seq + 100 WHERE seq >= 6",
            "UPDATE envelopes SET seq = seq - 99 WHERE seq >= 106",
            "UPDATE recipients SET seq = seq - 99 WHERE seq >= 106",
            (f"INSERT INTO envelopes ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())),
            "INSERT INTO recipients (seq, party, position) VALUES (6, 'iq-mod', 99)")
    report = verify(store)
    assert report.first_bad.seq == 6
    assert report.first_bad.envelope_id == str(forged.id)
    assert 'signature of "iq-mod" does not verify' in report.first_bad.reason


def test_a_genuine_envelope_chained_in_later_is_found(filled, ids, raw_sql):
    """Even a validly signed, correctly hashed record appended behind the store's back
    disagrees with the store's chain head."""
    store, url = filled
    extra = ids["us"].seal("text", {"late": 1}, releasable_to=["iq-mod"])
    last = record(store, 10).row
    row = {"seq": 11, "id": str(extra.id), "sender": "us", "kind": "text",
           "created": extra.to_dict()["created"], "caveat": "", "stored": last["stored"],
           "releasable_to": '["iq-mod"]', "body": '{"late":1}',
           "signature": extra.to_dict()["signature"], "prev_hash": last["hash"]}
    rcpt = {"iq-mod": store.count("iq-mod") + 1, "us": store.count("us") + 1}
    row["hash"] = chain_hash(last["hash"], record_bytes(row, rcpt))
    cols = ", ".join(row)
    raw_sql(url, (f"INSERT INTO envelopes ({cols}) VALUES ({', '.join('?' * len(row))})", tuple(row.values())),
            *[("INSERT INTO recipients (seq, party, position) VALUES (11, ?, ?)", (p, n))
              for p, n in rcpt.items()])
    report = verify(store)
    assert [p.seq for p in report.problems] == [None]
    assert "added or altered outside the store" in report.first_bad.reason


def test_an_anchor_catches_a_rewritten_chain(filled, deployment, ids, raw_sql):
    store, url = filled
    anchor = store.head()
    # Rewrite history wholesale: drop record 10 and fix up the head, as an
    # insider with database access could.
    rec9 = record(store, 9).row
    raw_sql(url, "DELETE FROM recipients WHERE seq = 10", "DELETE FROM envelopes WHERE seq = 10",
            ("UPDATE chain_head SET seq = 9, hash = ?", (rec9["hash"],)))
    assert verify(store).ok                      # consistent on its own ...
    report = verify(store, anchor=anchor)        # ... but not with what was anchored
    assert "the anchor's record 10 is gone" in report.first_bad.reason


def test_a_fake_acknowledgement_is_found(filled, raw_sql):
    store, url = filled
    sighting = record(store, 2).row["id"]  # not released to Turkey
    raw_sql(url, ("INSERT INTO acks (envelope_id, party, at) VALUES (?, 'tr', "
                  "'2024-01-01T00:00:00.000000Z')", (sighting,)))
    report = verify(store)
    assert f'acknowledgement of envelope {sighting} by "tr"' in report.first_bad.reason


def test_record_bytes_are_the_canonical_json_of_the_record(filled):
    """The hash input is assembled from stored text for speed; it must equal RFC 8785
    JSON of the record as the audit chain's definition states."""
    from borderwatch.channel.canonical import canonical_json

    store, _ = filled
    for rec in store.raw_records():
        row = rec.row
        as_json = {"seq": row["seq"], "stored": row["stored"], "recipients": rec.recipients,
                   "envelope": {k: row[k] for k in ("id", "sender", "kind", "created", "caveat",
                                                    "signature")}
                   | {"releasable_to": json.loads(row["releasable_to"]),
                      "body": json.loads(row["body"])}}
        assert record_bytes(row, rec.recipients) == canonical_json(as_json)
        assert chain_hash(row["prev_hash"], record_bytes(row, rec.recipients)) == row["hash"]


def test_a_leak_hidden_by_rewriting_the_whole_chain_is_still_found(filled, ids, raw_sql):
    """An insider gives Turkey a message the US released to Iraq only, then recomputes
    every hash from there on and the head, so the chain is consistent again. The
    sender's signed release list still gives the leak away."""
    store, url = filled
    secret = ids["us"].seal("text", {"meet": "grid 38S"}, releasable_to=["iq-mod"])
    store.publish(secret)
    store.publish(ids["iq-mod"].seal("breach", {"after": 1}, releasable_to=EVERYONE))
    statements = [f"INSERT INTO recipients (seq, party, position) VALUES (11, 'tr', "
                  f"{store.count('tr') + 1})"]
    prev = record(store, 10).row["hash"]
    for seq in (11, 12):
        rec = record(store, seq)
        rcpt = dict(rec.recipients, tr=store.count("tr") + 1) if seq == 11 else rec.recipients
        row = dict(rec.row, prev_hash=prev)
        prev = row["hash"] = chain_hash(prev, record_bytes(row, rcpt))
        statements.append((f"UPDATE envelopes SET prev_hash = ?, hash = ? WHERE seq = {seq}",
                           (row["prev_hash"], row["hash"])))
    statements.append(("UPDATE chain_head SET hash = ?", (prev,)))
    raw_sql(url, *statements)
    assert [d.envelope.id for d in store.search("tr", sender="us", kind="text")] == [secret.id]
    report = verify(store)
    assert report.first_bad.seq == 11
    assert report.first_bad.reason == ("delivered to tr, to whom the sender did not release it "
                                       "(recipients altered)")
