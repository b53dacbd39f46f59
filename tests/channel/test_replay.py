"""A simulated window's sensor reports, recorded and replayed into the TAK server, become tracks and breaches."""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from borderwatch.channel import Store, create_deployment
from borderwatch.channel.replay import load, record, replay
from borderwatch.channel.tak_server import TakServer
from borderwatch.errors import ChannelError
from borderwatch.plan import make_plan


@pytest.fixture(scope="module")
def tiny_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    rec = record(tiny, make_plan(tiny), hours=0.5, seed=1, share=0.5, out=out)
    return out, rec


def test_record_keeps_every_report_in_time_order_and_round_trips(tiny, tiny_run):
    out, rec = tiny_run
    assert len(rec) > 100
    assert np.all(np.diff(rec.t) >= 0) and rec.t[-1] <= 0.5 * 3600
    assert set(np.unique(rec.category)) <= {-1, 0, 1} and (rec.category >= 0).any()
    assert rec.sigma_m.min() > 0 and rec.sensors[0].startswith("tower-")
    back = load(out)
    assert back.scenario == "tiny" and back.sensors == rec.sensors
    assert np.array_equal(back.t, rec.t) and np.array_equal(back.lat, rec.lat)
    with pytest.raises(ChannelError, match="no recorded detections"):
        load(out / "nothing")


def test_replay_to_the_server_produces_tracks_and_breaches(tiny, tiny_run, tmp_path):
    _, rec = tiny_run
    dep = create_deployment(tiny, tmp_path / "dep")

    async def main():
        with Store(tmp_path / "c.db", dep) as store:
            async with TakServer(dep, store, tiny, tls_port=0, tcp_port=None, store_sightings=False) as srv:
                from borderwatch.channel.replay import client_ssl

                got = await replay(rec, "127.0.0.1", srv.tls_port, speed=math.inf,
                                   ssl_context=client_ssl(dep, "east"))
                for _ in range(500):
                    if srv.stats.sightings == len(rec) and not srv._pending:
                        break
                    await asyncio.sleep(0.02)
                await asyncio.sleep(0.3)
                return got, srv.stats

    got, stats = asyncio.run(main())
    assert got["sent"] == len(rec) == stats.sightings
    assert stats.rejections == 0
    assert stats.tracks_sent > 0 and stats.breaches > 0
