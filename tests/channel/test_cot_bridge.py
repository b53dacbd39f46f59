"""CoT ↔ borderwatch: field sightings to Detections, tracks and breaches to CoT, numerically."""

from __future__ import annotations

import re
import warnings
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.channel.cot import UNKNOWN, CotEvent, parse_cot, to_cot_xml
from borderwatch.channel.cot_bridge import (BREACH_TYPE, breach_to_cot, category_of, circular_error_m,
                                            estimates_to_cot, estimates_to_cot_xml, is_sighting,
                                            sightings_to_detections)
from borderwatch.channel.takproto_codec import decode_stream, encode_stream
from borderwatch.errors import CotError
from borderwatch.geo.projection import LocalProjection
from borderwatch.track.breach import Breach
from borderwatch.track.detections import PERSON, UNKNOWN as UNKNOWN_CLASS, VEHICLE
from borderwatch.track.tracker import Estimates, Tracker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pytak

EPOCH = datetime(2025, 3, 1, 6, 0, 0, tzinfo=timezone.utc)
SENSORS = {"VIPER-1": 0, "HAWK-2": 1}


@pytest.fixture(scope="module")
def proj(iraq_syria):
    return LocalProjection.from_string(iraq_syria.crs)


def _sighting(lon, lat, *, dt_s=0.0, ce=20.0, callsign="VIPER-1", typ="a-h-G", uid="ANDROID-1"):
    t = EPOCH + timedelta(seconds=dt_s)
    return CotEvent(uid=uid, type=typ, how="h-e", time=t, start=t, stale=t + timedelta(minutes=2),
                    lat=lat, lon=lon, ce=ce, callsign=callsign)


def test_pytak_sighting_becomes_a_detection_in_local_metres(proj):
    raw = pytak.gen_cot(lat=36.4123, lon=41.7321, ce=15, uid="ANDROID-1", cot_type="a-h-G-U-C-I",
                        callsign="HAWK-2")
    e = parse_cot(raw)
    d = sightings_to_detections([e], proj, epoch=EPOCH, sensors=SENSORS)
    assert len(d) == 1
    x, y = proj.to_xy(41.7321, 36.4123)
    assert d.x[0] == pytest.approx(float(x), abs=1e-6) and d.y[0] == pytest.approx(float(y), abs=1e-6)
    assert d.t[0] == pytest.approx((e.time - EPOCH).total_seconds())
    assert np.allclose(d.cov[0], np.diag([15.0 ** 2, 15.0 ** 2]))
    assert d.sensor[0] == 1 and d.category[0] == PERSON
    lon, lat = proj.to_lonlat(d.x, d.y)                             # and back, within 1e-6 degrees
    assert abs(lon[0] - 41.7321) < 1e-6 and abs(lat[0] - 36.4123) < 1e-6


def test_batch_order_times_and_unknown_ce(proj):
    evs = [_sighting(41.70, 36.40, dt_s=10.5, ce=UNKNOWN),
           _sighting(41.71, 36.41, dt_s=-3.0, ce=0.0, callsign="HAWK-2", typ="a-u-G-E-V-C")]
    d = sightings_to_detections(evs, proj, epoch=EPOCH, sensors=SENSORS, unknown_ce_sigma_m=80.0)
    assert list(d.t) == [10.5, -3.0]
    assert d.cov[0, 0, 0] == 80.0 ** 2 and d.cov[1, 0, 0] == 1.0       # ce 0 floored to min_sigma_m
    assert list(d.sensor) == [0, 1] and list(d.category) == [UNKNOWN_CLASS, VEHICLE]
    assert len(sightings_to_detections([], proj, epoch=EPOCH, sensors=SENSORS)) == 0


def test_refusals_name_the_problem(proj):
    with pytest.raises(CotError, match="not a sighting"):
        sightings_to_detections([_sighting(41.7, 36.4, typ="a-f-G")], proj, epoch=EPOCH, sensors=SENSORS)
    with pytest.raises(CotError, match="'GHOST' is not a sensor"):
        sightings_to_detections([_sighting(41.7, 36.4, callsign="GHOST")], proj, epoch=EPOCH,
                                sensors=SENSORS)
    with pytest.raises(CotError, match="timezone-aware"):
        sightings_to_detections([_sighting(41.7, 36.4)], proj, epoch=datetime(2025, 1, 1), sensors=SENSORS)


def test_type_helpers():
    assert is_sighting(_sighting(0, 0, typ="a-u-G")) and is_sighting(_sighting(0, 0, typ="a-h-G-U-C-I"))
    assert not is_sighting(_sighting(0, 0, typ="a-h-GX")) and not is_sighting(_sighting(0, 0, typ="a-h-A"))
    assert category_of("a-h-G-U-C-I") == PERSON and category_of("a-u-G-E-V-C") == VEHICLE
    assert category_of("a-h-G") == UNKNOWN_CLASS


def test_circular_error_is_the_worst_axis_sigma():
    theta = 0.3
    r = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    cov = r @ np.diag([30.0 ** 2, 10.0 ** 2]) @ r.T
    assert circular_error_m(cov[None])[0] == pytest.approx(30.0)
    assert circular_error_m(np.diag([4.0, 4.0])[None])[0] == pytest.approx(2.0)


def _estimates(proj, t=120.0):
    x0, y0 = proj.to_xy(41.75, 36.45)
    state = np.array([[float(x0), float(y0), 1.0, 1.0], [float(x0) + 500, float(y0), 0.0, -2.0],
                      [float(x0), float(y0) + 900, 0.0, 0.0]])
    cov = np.repeat(np.diag([25.0 ** 2, 16.0 ** 2, 1.0, 1.0])[None], 3, axis=0)
    return Estimates(t, np.array([7, 8, 9]), state, cov, np.array([True, True, False]),
                     np.array([PERSON, VEHICLE, UNKNOWN_CLASS], np.int8), np.zeros(3), np.zeros(3))


def test_confirmed_tracks_become_cot(proj):
    est = _estimates(proj)
    out = estimates_to_cot(est, proj, epoch=EPOCH, stale_s=45)
    assert [e.uid for e in out] == ["borderwatch-track-7", "borderwatch-track-8"]   # tentative 9 left out
    assert [e.type for e in out] == ["a-h-G-U-C-I", "a-h-G-E-V"]
    a = out[0]
    assert a.time == EPOCH + timedelta(seconds=120) and a.stale - a.time == timedelta(seconds=45)
    assert abs(a.lon - 41.75) < 1e-6 and abs(a.lat - 36.45) < 1e-6
    assert a.ce == pytest.approx(25.0) and a.how == "m-f"
    course = [float(re.search(r'course="([^"]+)"', e.extra_detail).group(1)) for e in out]
    speed = [float(re.search(r'speed="([^"]+)"', e.extra_detail).group(1)) for e in out]
    assert course == pytest.approx([45.0, 180.0]) and speed == pytest.approx([2 ** 0.5, 2.0])
    for e in out:                                   # what clients get parses back identically
        assert parse_cot(to_cot_xml(e)) == e and decode_stream(encode_stream(e)) == e
    unknown = estimates_to_cot(est, proj, epoch=EPOCH, hostile=False, confirmed_only=False)
    assert [e.type for e in unknown] == ["a-u-G-U-C-I", "a-u-G-E-V", "a-u-G"]


_coord = st.floats(-3e6, 3e6, allow_nan=False)
_speed = st.floats(-80, 80, allow_nan=False) | st.sampled_from([0.0, -0.0, 1e-300])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_coord, _coord, _speed, _speed, st.floats(0, 1e15, allow_nan=False),
                          st.sampled_from([PERSON, VEHICLE, UNKNOWN_CLASS]), st.booleans(),
                          st.integers(0, 2 ** 62)),
                max_size=12, unique_by=lambda r: r[7]),
       st.floats(-1e6, 5e9, allow_nan=False), st.floats(0.5, 1e5), st.booleans(), st.booleans(),
       st.sampled_from(["Track ", "T&<\"> ", "", "x" * 5000, "bad\x01"]))
def test_tracks_written_straight_to_xml_are_what_the_events_write(proj, rows, t, stale_s, hostile, confirmed_only,
                                                                    prefix):
    """`estimates_to_cot_xml` skips the events but must write their bytes exactly, and refuse
    exactly what they refuse (a latitude off the globe from a far-off x, a huge covariance, a
    time past 2100, a callsign prefix XML cannot carry)."""
    order = sorted(rows, key=lambda r: r[7])
    n = len(order)
    state = np.array([[r[0], r[1], r[2], r[3]] for r in order], float).reshape(n, 4)
    cov = np.zeros((n, 4, 4))
    cov[:, 0, 0] = cov[:, 1, 1] = [r[4] for r in order]
    est = Estimates(t, np.array([r[7] for r in order], np.int64), state, cov, np.array([r[6] for r in order], bool),
                    np.array([r[5] for r in order], np.int8), np.zeros(n), np.zeros(n))
    kw = dict(epoch=EPOCH, hostile=hostile, stale_s=stale_s, confirmed_only=confirmed_only, callsign_prefix=prefix)
    try:
        events = estimates_to_cot(est, proj, **kw)
    except CotError as exc:
        with pytest.raises(CotError) as got:
            estimates_to_cot_xml(est, proj, **kw)
        assert (got.value.field, str(got.value)) == (exc.field, str(exc))
        return
    enc = estimates_to_cot_xml(est, proj, **kw)
    assert enc.data == [to_cot_xml(e) for e in events]
    assert enc.uids == [e.uid for e in events]
    assert enc.ids == [int(e.uid.rsplit("-", 1)[1]) for e in events]
    assert enc.stale == (events[0].stale if events else None)


def test_breach_becomes_an_alert():
    b = Breach(track_id=7, t=3600.25, x=1.0, y=2.0, lon=41.5, lat=36.3, chainage_km=123.456, sector=4,
               confidence=0.973, sensors=("tower-3", "VIPER-1"), how="crossed")
    e = breach_to_cot(b, epoch=EPOCH)
    assert e.type == BREACH_TYPE == "b-a-g"
    assert (e.lon, e.lat) == (41.5, 36.3)
    assert e.time == EPOCH + timedelta(seconds=3600.25)
    for words in ("km 123.456", "sector 4", "97%", "tower-3, VIPER-1", "crossed", "track 7"):
        assert words in e.remarks
    assert e.links[0].uid == "borderwatch-track-7" and e.links[0].relation == "p-p"
    assert '<emergency type="Geo-fence Breached">borderwatch</emergency>' in e.extra_detail
    assert parse_cot(to_cot_xml(e)) == e
    marker = breach_to_cot(b, epoch=EPOCH, cot_type="b-m-p-s-p-loc")
    assert marker.type == "b-m-p-s-p-loc" and marker.extra_detail == ""


def test_sightings_through_the_tracker_come_back_as_a_track(proj):
    x0, y0 = proj.to_xy(41.80, 36.50)
    evs = []
    for k in range(8):                                # one person walking east at 1 m/s, a report every 10 s
        lon, lat = proj.to_lonlat(float(x0) + 10.0 * k, float(y0))
        evs.append(_sighting(float(lon), float(lat), dt_s=10.0 * k, ce=10.0))
    tracker = Tracker(sensors=tuple(SENSORS))
    for e in evs:
        raw = encode_stream(e)                        # over the wire as a TAK v1 stream frame
        tracker.step(sightings_to_detections([decode_stream(raw)], proj, epoch=EPOCH, sensors=SENSORS))
    out = estimates_to_cot(tracker.estimates(), proj, epoch=EPOCH)
    assert len(out) == 1
    lon_end, lat_end = proj.to_lonlat(float(x0) + 70.0, float(y0))
    assert abs(out[0].lon - float(lon_end)) < 2e-4 and abs(out[0].lat - float(lat_end)) < 2e-4
    assert out[0].time == evs[-1].time
