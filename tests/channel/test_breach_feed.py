"""Breaches from the real tracker become signed breach envelopes for the parties the policy names."""

from __future__ import annotations

import asyncio

import pytest

from borderwatch.channel import Store
from borderwatch.channel.api import ServerThread, free_port, make_server
from borderwatch.channel.breach_feed import BreachFeed, detected_at, tracked_crossing_breach
from borderwatch.channel.client import ChannelClient
from borderwatch.errors import ChannelError


@pytest.fixture(scope="module")
def breach(iraq_syria):
    return tracked_crossing_breach(iraq_syria)


def test_a_walked_crossing_is_tracked_into_a_breach(breach, iraq_syria):
    assert breach.how == "crossed" and breach.sensors == ("tower-demo",)
    assert 0.5 <= breach.confidence <= 1.0
    assert breach.chainage_km > 0 and 33 < breach.lat < 37.5 and 38 < breach.lon < 43


def test_the_feed_publishes_as_the_owner_to_the_policy_parties(tmp_path, deployment, breach):
    with Store(tmp_path / "c.db", deployment) as store:
        owner = deployment.policy.owner
        feed = BreachFeed(deployment.identity(owner), deployment, store.publish)
        rec = feed.publish(breach, scenario="iraq-syria")
        assert rec.envelope.kind == "breach" and rec.envelope.sender == owner
        assert set(rec.recipients) == set(deployment.policy.allowed("breach")) | {owner}
        for p in rec.recipients:
            body = store.get(p, rec.envelope.id).envelope.body
            assert body["track_id"] == breach.track_id and body["chainage_km"] == breach.chainage_km
        assert detected_at(rec.envelope) == rec.detected_at and rec.stored_s > 0
        with pytest.raises(ChannelError, match="owner party"):
            BreachFeed(deployment.identity("tr"), deployment, store.publish)


def test_the_feed_narrows_to_a_release_list_and_records_delivery_latency(tmp_path, deployment, ids,
                                                                         breach):
    port = free_port()
    with Store(tmp_path / "c.db", deployment) as store, \
            ServerThread(make_server(deployment, store, port=port, tls=False, auth=("token",))):
        base = f"http://127.0.0.1:{port}"
        owner = deployment.policy.owner
        clients = {p: ChannelClient(base, ids[p], keys=deployment) for p in deployment.party_ids}
        feed = BreachFeed(ids[owner], deployment, clients[owner].publish,
                          releasable_to=[owner, "us", "sdf"])

        async def scenario():
            async def listen(p):
                async for d in clients[p].subscribe(after=0):
                    return p, feed.delivered(p, d)
            tasks = [asyncio.create_task(listen(p)) for p in ("us", "sdf")]
            await asyncio.sleep(0.3)
            rec = await asyncio.to_thread(feed.publish, breach)
            return rec, dict(await asyncio.wait_for(asyncio.gather(*tasks), 10))

        rec, latency = asyncio.run(scenario())
        assert rec.recipients == tuple(sorted([owner, "us", "sdf"]))
        assert set(latency) == {"us", "sdf"} and all(0 < s < 5 for s in latency.values())
        assert rec.delivered_s == latency and sorted(feed.latencies()) == sorted(latency.values())
        assert clients["tr"].count(kind="breach") == 0
        for c in clients.values():
            c.close()
