"""Issue 9's "done when": the server on the bundled Iraq–Syria deployment; a simulated
window against the real plan, replayed as CoT over TLS; a PyTAK client of a party the
alerts are released to sees breach alerts; one they are not released to sees none."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import pytest

from borderwatch.channel import Store
from borderwatch.channel.policy import Policy
from borderwatch.channel.replay import client_ssl, record, replay
from borderwatch.channel.tak_server import TakServer
from borderwatch.plan import make_plan
from test_tak_server import Inbox, alerts, pytak_client, settle, tracks  # noqa: E402


@pytest.fixture(scope="module")
def plan(iraq_syria):
    return make_plan(iraq_syria)


def test_pytak_client_sees_breaches_from_a_replayed_simulation(deployment, iraq_syria, plan, tmp_path):
    rules = dict(deployment.policy.rules)
    rules["breach"] = frozenset({"iq-mod", "sdf", "us"})           # narrowed: Turkey gets no alert
    dep = dataclasses.replace(deployment, policy=Policy(deployment.party_ids, "iq-mod", rules))
    rec = record(iraq_syria, plan, hours=0.5, seed=3, share=0.1)
    assert len(rec) > 300

    async def main():
        with Store(tmp_path / "c.db", dep) as store:
            async with TakServer(dep, store, iraq_syria, tls_port=0, tcp_port=None) as srv:
                url = f"tls://127.0.0.1:{srv.tls_port}"
                r_sdf, w_sdf = await pytak_client(url, dep, "sdf")
                r_tr, w_tr = await pytak_client(url, dep, "tr")
                sdf, tr = Inbox(r_sdf), Inbox(r_tr)
                sent = await replay(rec, "127.0.0.1", srv.tls_port, speed=math.inf,
                                    ssl_context=client_ssl(dep, "us"))
                assert sent["sent"] == len(rec)
                await sdf.wait(lambda ev: len(alerts(ev)) >= 1, timeout=60)
                await settle(srv, timeout=30)
                await asyncio.sleep(0.5)
                assert srv.stats.breaches >= 1 and srv.stats.rejections == 0
                assert tracks(sdf.events), "sdf sees the tracks behind the alerts"
                assert not alerts(tr.events), "Turkey received an alert not released to it"
                for a in alerts(sdf.events):
                    assert "BORDER BREACH" in a.remarks
                for i in (sdf, tr):
                    i.close()
                for w in (w_sdf, w_tr):
                    w.close()
                return srv.stats.breaches, len(alerts(sdf.events))

    breaches, seen = asyncio.run(main())
    assert seen >= 1 and breaches >= seen
