"""The channel API over a real uvicorn server (plain HTTP, signed tokens), on SQLite and PostgreSQL.

Each test starts the server in a thread on a free loopback port, talks to it
with `ChannelClient` (and raw httpx / websockets for hostile requests), and
checks the store behind it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

import httpx
import pytest
import websockets

from borderwatch.channel import Store
from borderwatch.channel.api import ServerThread, free_port, make_server, make_token
from borderwatch.channel.client import ChannelClient, ChannelHTTPError

EVERYONE = ["iq-mod", "sy-gov", "sdf", "tr", "us"]


@pytest.fixture
def channel(store_url, deployment, ids):
    """(store, base_url, clients by party) with a live server on a free port."""
    port = free_port()
    with Store(store_url, deployment) as store:
        server = make_server(deployment, store, port=port, tls=False, auth=("token",), poll_s=0.2)
        with ServerThread(server):
            base = f"http://127.0.0.1:{port}"
            clients = {p: ChannelClient(base, ids[p], keys=deployment) for p in EVERYONE}
            yield store, base, clients
            for c in clients.values():
                c.close()


def raw(base, ident, method, path, **kw):
    """One request with a fresh token for `ident`, through plain httpx."""
    url = httpx.URL(base + path, params=kw.pop("params", None))
    target = url.path + ("?" + url.query.decode() if url.query else "")
    headers = {"Authorization": make_token(ident, method, target), **kw.pop("headers", {})}
    return httpx.request(method, url, headers=headers, **kw)


def total(store):
    return sum(store.count(p) for p in EVERYONE)


# -- publishing -------------------------------------------------------------------


def test_publish_and_read_back_through_every_path(channel, ids):
    store, base, c = channel
    r = c["iq-mod"].publish("breach", {"chainage_km": 370.5}, releasable_to=EVERYONE)
    assert r.recipients == tuple(sorted(EVERYONE)) and not r.duplicate
    for p in EVERYONE:
        assert c[p].count() == 1
        (d,) = c[p].history()
        assert d.envelope.id == r.id and d.envelope.body == {"chainage_km": 370.5}
        assert c[p].get(r.id).envelope.signature == d.envelope.signature
    assert store.count("tr") == 1


def test_a_forged_or_altered_envelope_is_refused_and_nothing_stored(channel, ids):
    store, base, c = channel
    env = ids["us"].seal("sighting", {"lon": 41.0, "lat": 34.4}, releasable_to=["iq-mod"])
    wire = env.to_dict()
    wire["body"] = {"lon": 41.0, "lat": 34.5}                          # one digit changed
    r = raw(base, ids["us"], "POST", "/envelopes", content=json.dumps(wire))
    assert r.status_code == 403 and "signature does not verify" in r.json()["detail"]
    forged = ids["tr"].seal("sighting", {"lon": 41.0}, releasable_to=["iq-mod"]).to_dict()
    forged["sender"] = "us"                                            # tr's signature, us's name
    r = raw(base, ids["us"], "POST", "/envelopes", content=json.dumps(forged))
    assert r.status_code == 403 and "signature" in r.json()["detail"]
    wire = env.to_dict()
    wire["releasable_to"] = ["iq-mod", "tr"]                           # widened after signing
    r = raw(base, ids["us"], "POST", "/envelopes", content=json.dumps(wire))
    assert r.status_code == 403
    assert total(store) == 0


def test_a_party_cannot_publish_as_another(channel, ids):
    store, base, c = channel
    env = ids["us"].seal("text", {"text": "stand down"}, releasable_to=EVERYONE)   # validly signed by us
    r = raw(base, ids["tr"], "POST", "/envelopes", content=env.to_json())         # ...sent by tr
    assert r.status_code == 403
    assert 'sender is "us" but you are "tr"' in r.json()["detail"]
    with pytest.raises(ChannelHTTPError) as exc:
        c["tr"].publish(env)
    assert exc.value.status == 403
    r = raw(base, ids["tr"], "POST", "/envelopes/batch", content=f"[{env.to_json().decode()}]")
    assert r.status_code == 403
    assert total(store) == 0


def test_a_duplicate_id_is_stored_once_and_a_reused_id_refused(channel, ids):
    store, base, c = channel
    env = ids["sdf"].seal("track", {"id": 7}, releasable_to=["iq-mod", "us"])
    first = c["sdf"].publish(env)
    again = c["sdf"].publish(env)
    assert not first.duplicate and again.duplicate and again.position == first.position
    (batch,) = c["sdf"].publish_many([env])
    assert batch.duplicate
    assert c["us"].count() == 1 and store.count("sdf") == 1
    other = ids["sdf"].seal("track", {"id": 8}, releasable_to=["iq-mod"], id=env.id)
    with pytest.raises(ChannelHTTPError) as exc:
        c["sdf"].publish(other)
    assert exc.value.status == 409 and "ids are never reused" in exc.value.detail
    assert c["us"].get(env.id).envelope.body == {"id": 7}


def test_a_batch_is_all_or_nothing(channel, ids):
    store, base, c = channel
    good = ids["us"].seal("text", {"n": 1}, releasable_to=EVERYONE)
    bad = ids["us"].seal("text", {"n": 2}, releasable_to=EVERYONE).to_dict()
    bad["body"] = {"n": 3}
    r = raw(base, ids["us"], "POST", "/envelopes/batch",
            content=f"[{good.to_json().decode()},{json.dumps(bad)}]")
    assert r.status_code == 403 and r.json()["detail"].startswith("[1] ")
    assert total(store) == 0
    receipts = c["us"].publish_many([good, ids["us"].seal("text", {"n": 4}, releasable_to=["tr"])])
    assert [r.position for r in receipts] == [1, 2] and c["tr"].count() == 2


def test_a_large_batch_with_one_bad_signature_is_refused_naming_it(channel, ids):
    # Batches of 8 or more have their signatures checked together in a helper process
    # (batch_verify); the refusal must read as it always did, and nothing be stored.
    store, base, c = channel
    sent = [ids["us"].seal("text", {"n": i}, releasable_to=EVERYONE) for i in range(30)]
    wire = [e.to_dict() for e in sent]
    wire[17]["body"] = {"n": 170}
    r = raw(base, ids["us"], "POST", "/envelopes/batch", content=json.dumps(wire))
    assert r.status_code == 403
    assert r.json()["detail"].startswith(f"[17] envelope {sent[17].id}: ")
    assert "signature does not verify" in r.json()["detail"]
    assert total(store) == 0
    receipts = c["us"].publish_many(sent)
    assert [r.position for r in receipts] == list(range(1, 31)) and c["tr"].count() == 30


# -- nothing unreleased, anywhere ---------------------------------------------------


def test_an_unreleased_envelope_is_invisible_on_every_path(channel, ids):
    store, base, c = channel
    # The policy releases tracks to iq-mod, sdf and us only: tr and sy-gov are withheld.
    track = c["iq-mod"].publish("track", {"track_id": 12}, releasable_to=EVERYONE)
    assert track.withheld == ("sy-gov", "tr")
    missing = uuid.uuid4()

    async def first_frame():
        # tr's live feed from the start: the first thing it gets is the later, released alert.
        async for d in c["tr"].subscribe(after=0, reconnect=False):
            return d

    async def scenario():
        task = asyncio.create_task(first_frame())
        await asyncio.sleep(0.3)
        alert = await asyncio.to_thread(c["iq-mod"].publish, "breach", {"n": 1}, releasable_to=EVERYONE)
        return alert, await asyncio.wait_for(task, 10)

    alert, got = asyncio.run(scenario())
    assert got.envelope.id == alert.id and got.position == 1
    for p in ("tr", "sy-gov"):
        assert [d.envelope.id for d in c[p].history()] == [alert.id]
        assert c[p].history(kind="track") == [] and c[p].history(sender="iq-mod", kind="track") == []
        assert c[p].count() == 1 and c[p].count(kind="track") == 0
        for path in (f"/envelopes/{{}}", f"/envelopes/{{}}/acks"):
            hidden = raw(base, ids[p], "GET", path.format(track.id))
            absent = raw(base, ids[p], "GET", path.format(missing))
            assert hidden.status_code == absent.status_code == 404
            assert (hidden.json()["detail"].replace(str(track.id), "X")
                    == absent.json()["detail"].replace(str(missing), "X"))
            assert hidden.headers["content-length"] == absent.headers["content-length"]
        hidden = raw(base, ids[p], "POST", f"/envelopes/{track.id}/ack")
        absent = raw(base, ids[p], "POST", f"/envelopes/{missing}/ack")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.json()["detail"].replace(str(track.id), "X") == \
            absent.json()["detail"].replace(str(missing), "X")
    assert [d.envelope.id for d in c["us"].history()] == [track.id, alert.id]


def test_acknowledgements_sender_sees_all_recipient_only_its_own(channel):
    store, base, c = channel
    r = c["iq-mod"].publish("breach", {"n": 1}, releasable_to=EVERYONE)
    a_us = c["us"].acknowledge(r.id)
    assert c["us"].acknowledge(r.id).at == a_us.at                  # idempotent
    c["tr"].acknowledge(r.id)
    assert {a.party for a in c["iq-mod"].acknowledgements(r.id)} == {"us", "tr"}
    assert [a.party for a in c["us"].acknowledgements(r.id)] == ["us"]


# -- live, exactly once -------------------------------------------------------------


def test_live_resume_gets_every_envelope_exactly_once_across_a_disconnect(channel):
    store, base, c = channel
    pub = c["iq-mod"]

    async def take(n, after):
        out = []
        async for d in c["us"].subscribe(after=after):
            out.append(d)
            if len(out) == n:
                break
        return out

    async def scenario():
        for i in range(3):
            await asyncio.to_thread(pub.publish, "breach", {"i": i}, releasable_to=["us"])
        first = await asyncio.wait_for(take(2, 0), 10)                     # then the client drops
        for i in range(3, 6):                                              # published while away
            await asyncio.to_thread(pub.publish, "breach", {"i": i}, releasable_to=["us"])
        task = asyncio.create_task(take(6, first[-1].position))
        await asyncio.sleep(0.2)
        for i in range(6, 10):                                             # and after it is back
            await asyncio.to_thread(pub.publish, "breach", {"i": i}, releasable_to=["us"])
        return first, await asyncio.wait_for(task, 10)

    first, second = asyncio.run(scenario())
    got = [d.envelope.body["i"] for d in first + second]
    assert got == [0, 1, 2, 3, 4, 5, 6, 7]
    assert [d.position for d in first + second] == list(range(1, 9))


def test_live_starts_from_the_durable_cursor_when_no_position_is_given(channel):
    store, base, c = channel
    for i in range(4):
        c["iq-mod"].publish("breach", {"i": i}, releasable_to=["sdf"])
    c["sdf"].advance(3)
    assert c["sdf"].cursor() == 3

    async def one():
        async for d in c["sdf"].subscribe():
            return d

    assert asyncio.run(asyncio.wait_for(one(), 10)).envelope.body == {"i": 3}
    with pytest.raises(ChannelHTTPError) as exc:
        c["sdf"].advance(2)                                               # never backwards
    assert exc.value.status == 400 and c["sdf"].cursor() == 3


def test_a_slow_subscriber_does_not_stall_the_others(channel, ids):
    store, base, c = channel
    n = 300

    async def scenario():
        root = base.replace("http", "ws")
        slow = await websockets.connect(root + "/live?after=0", max_size=None, additional_headers={
            "Authorization": make_token(ids["tr"], "GET", "/live?after=0")})    # never reads

        async def fast():
            seen = 0
            async for d in c["us"].subscribe(after=0):
                seen = d.position
                if seen == n:
                    return seen

        task = asyncio.create_task(fast())
        await asyncio.sleep(0.2)
        envs = [ids["iq-mod"].seal("breach", {"pad": "x" * 2000, "i": i}, releasable_to=EVERYONE)
                for i in range(n)]
        for k in range(0, n, 50):
            await asyncio.to_thread(c["iq-mod"].publish_many, envs[k:k + 50])
        result = await asyncio.wait_for(task, 15)
        await slow.close()
        return result

    assert asyncio.run(scenario()) == n


# -- malformed and unauthenticated requests -----------------------------------------


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'"text"', 400, "must be a JSON object"),
    (json.dumps({"v": 1}).encode(), 400, 'field "id" is missing'),
])
def test_malformed_publish_is_4xx_with_a_reason_and_stores_nothing(channel, ids, body, status, words):
    store, base, c = channel
    r = raw(base, ids["us"], "POST", "/envelopes", content=body)
    assert r.status_code == status and words in r.json()["detail"]
    assert total(store) == 0


def test_malformed_fields_and_queries_are_refused_clearly(channel, ids):
    store, base, c = channel
    good = ids["us"].seal("text", {"n": 1}, releasable_to=["iq-mod"]).to_dict()
    for field, value, words in [("kind", "gossip", "unknown kind"),
                                ("releasable_to", ["iq-mod", "xx"], 'unknown party "xx"'),
                                ("signature", "not base64!", "standard base64"),
                                ("created", "yesterday", "not UTC time"),
                                ("extra", 1, "unknown field")]:
        bad = dict(good, **{field: value})
        r = raw(base, ids["us"], "POST", "/envelopes", content=json.dumps(bad))
        assert r.status_code == 400 and words in r.json()["detail"], (field, r.text)
    big = ids["us"].seal("text", {"n": 1}, releasable_to=["iq-mod"]).to_dict()
    big["body"] = {"pad": "x" * 600_000}
    assert raw(base, ids["us"], "POST", "/envelopes", content=json.dumps(big)).status_code == 413
    for params, words in [({"limit": 0}, "limit"), ({"after": -1}, "after"),
                          ({"kind": "gossip"}, "unknown kind"), ({"sender": "xx"}, "unknown party"),
                          ({"since": "today"}, "since")]:
        r = raw(base, ids["us"], "GET", "/envelopes", params=params)
        assert 400 <= r.status_code < 500 and words in r.json()["detail"], (params, r.text)
    r = raw(base, ids["us"], "GET", "/envelopes/not-a-uuid")
    assert r.status_code == 400 and "not a UUID" in r.json()["detail"]
    r = raw(base, ids["us"], "PUT", "/cursor", json={"position": "first"})
    assert r.status_code == 400
    r = raw(base, ids["us"], "PUT", "/cursor", json={"position": 5})
    assert r.status_code == 400 and "past the last envelope" in r.json()["detail"]
    assert total(store) == 0 and store.cursor("us") == 0


def test_tokens_are_bound_to_key_request_time_and_used_once(channel, ids):
    store, base, c = channel
    url = base + "/whoami"
    assert httpx.get(url).status_code == 401
    token = make_token(ids["us"], "GET", "/whoami")
    assert httpx.get(url, headers={"Authorization": token}).json() == {"party": "us"}
    replay = httpx.get(url, headers={"Authorization": token})
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]
    old = make_token(ids["us"], "GET", "/whoami", when=int(time.time()) - 600)
    assert "expired" in httpx.get(url, headers={"Authorization": old}).json()["detail"]
    other_path = make_token(ids["us"], "GET", "/envelopes")
    assert httpx.get(url, headers={"Authorization": other_path}).status_code == 401
    party, when, nonce, _ = token.split(" ")[1].split(":")
    forged = ids["tr"].private_key.sign(b"anything")
    fake = f"Borderwatch us:{int(time.time())}:{nonce}x:{base64.b64encode(forged).decode()}"
    assert httpx.get(url, headers={"Authorization": fake}).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer abc"}).status_code == 401

    async def ws_without_token():
        async with websockets.connect(base.replace("http", "ws") + "/live"):
            pass

    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(ws_without_token())


def test_openapi_schema_is_published(channel):
    store, base, c = channel
    doc = httpx.get(base + "/openapi.json").json()
    assert {"/envelopes", "/envelopes/batch", "/envelopes/count", "/envelopes/{envelope_id}",
            "/envelopes/{envelope_id}/ack", "/envelopes/{envelope_id}/acks", "/cursor"} <= set(doc["paths"])
    body = doc["paths"]["/envelopes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "signature" in body["required"]


def test_concurrent_single_posts_share_commits_and_arrive_live_once_in_order(store_url, deployment,
                                                                             ids):
    port = free_port()
    n = 60
    with Store(store_url, deployment) as store:
        server = make_server(deployment, store, port=port, tls=False, auth=("token",))
        committer = server.config.app.state.channel.committer
        with ServerThread(server):
            base = f"http://127.0.0.1:{port}"
            sub = ChannelClient(base, ids["tr"], keys=deployment)

            async def scenario():
                got = []

                async def listen():
                    async for d in sub.subscribe(after=0):
                        got.append(d)
                        if len(got) == n:
                            return

                task = asyncio.create_task(listen())
                await asyncio.sleep(0.3)
                envs = [ids["us"].seal("breach", {"i": i}, releasable_to=["tr"]) for i in range(n)]
                async with httpx.AsyncClient(base_url=base) as http:
                    async def post(e):
                        r = await http.post("/envelopes", content=e.to_json(), headers={
                            "Authorization": make_token(ids["us"], "POST", "/envelopes")})
                        assert r.status_code == 201, r.text
                    await asyncio.gather(*(post(e) for e in envs))
                await asyncio.wait_for(task, 20)
                return got

            got = asyncio.run(scenario())
            sub.close()
            batches = committer.batches
    assert [d.position for d in got] == list(range(1, n + 1))
    assert len({d.envelope.id for d in got}) == n
    assert batches < n           # the concurrent POSTs were committed in shared transactions


def test_receipt_text_is_receipt_json(ids):
    import json
    import uuid as _uuid
    from datetime import datetime, timezone

    from borderwatch.channel.api import receipt_json, receipt_text, receipts_body
    from borderwatch.channel.store import Receipt

    for r in (Receipt(_uuid.uuid4(), 7, ("iq-mod", "us"), ("tr",), datetime.now(timezone.utc)),
              Receipt(_uuid.uuid4(), 1, ("sdf",), (), datetime.now(timezone.utc), duplicate=True)):
        assert receipt_text(r) == json.dumps(receipt_json(r), ensure_ascii=False,
                                             separators=(",", ":"))
    when = datetime.now(timezone.utc)
    batch = [Receipt(_uuid.uuid4(), k, ("iq-mod", "us"), ("tr",) if k % 2 else (), when,
                     duplicate=k == 3) for k in range(1, 6)]
    assert receipts_body(batch) == json.dumps({"receipts": [receipt_json(r) for r in batch]},
                                              ensure_ascii=False, separators=(",", ":")).encode()
