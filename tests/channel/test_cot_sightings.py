"""Plain sightings read into columns must say exactly what the general CoT path says."""

from __future__ import annotations

import warnings
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.channel.cot import CotEvent, parse_cot_many, to_cot_xml
from borderwatch.channel.cot_bridge import is_sighting, sightings_to_detections
from borderwatch.channel.cot_sightings import MIN_BATCH, Sightings, read_sightings, to_detections
from borderwatch.channel.tak_server import sighting_event
from borderwatch.geo.projection import LocalProjection

from test_cot import _HOSTILE, _text, _xml, events  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pytak

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=timezone.utc)


def _same_as_general(payloads) -> bool:
    """True when the columns were read; then they must be the general path's events, exactly."""
    got = read_sightings(payloads, min_batch=1)
    if got is None:
        return False
    want = parse_cot_many(payloads)
    assert all(isinstance(w, CotEvent) and is_sighting(w) for w in want), want
    assert got.events() == want
    assert got.xml == [to_cot_xml(w, declaration=False) for w in want]
    assert got.text == [x.decode() for x in got.xml]
    return True


def _plain(e: CotEvent, typ: str) -> CotEvent:
    return replace(e, type=typ, endpoint=None, group_name=None, group_role=None, links=(),
                   dest_callsigns=(), dest_uids=(), extra_detail="")


_sighting_types = st.sampled_from(["a-h-G", "a-u-G", "a-h-G-U-C-I", "a-u-G-E-V", "a-h-Gx", "a-f-G", "a-h-A"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.builds(_plain, events(), _sighting_types).map(to_cot_xml)
                | st.builds(_plain, events(), _sighting_types).map(lambda e: to_cot_xml(e, declaration=False))
                | events().map(to_cot_xml) | st.sampled_from(_HOSTILE)
                | st.builds(lambda e, at, junk: (lambda b: b[:at] + junk + b[at:])(to_cot_xml(e)),
                            st.builds(_plain, events(), _sighting_types), st.integers(0, 400),
                            st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=10))
def test_columns_equal_the_general_path_whenever_they_are_read(payloads):
    _same_as_general(payloads)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["a-h-G", "a-u-G-U-C-I"]), st.floats(-90, 90), st.floats(-180, 180),
                          st.none() | _text, st.none() | _text), min_size=1, max_size=8),
       st.sampled_from([(), ("callsign",), ("remarks",), ("callsign", "remarks")]))
def test_uniform_sightings_are_read_as_columns(rows, keep):
    """Batches of one shape (every event with a callsign, or none; the same for remarks) take the
    column path: the general path's answer, without an event a sighting."""
    evs = [CotEvent(uid=f"P-{k}", type=t, how="h-e", time=T0, start=T0, stale=T0 + timedelta(minutes=2),
                    lat=la, lon=lo, ce=25.0, callsign=(cs or "") if "callsign" in keep else None,
                    remarks=(rm or "") if "remarks" in keep else None)
           for k, (t, la, lo, cs, rm) in enumerate(rows)]
    assert _same_as_general([to_cot_xml(e) for e in evs])


def test_what_field_units_send_is_read_as_columns():
    """ATAK-style events carry attributes the general path ignores (access, a point's extra
    attributes, a contact's phone): still columns, and the same canonical form. Elements of
    their own in the detail (PyTAK's ``_flow-tags_``) are kept verbatim by the general path,
    which reads those batches."""
    pytak_made = [pytak.gen_cot(lat=36.5 + k * 1e-3, lon=41.25, ce=25, uid=f"ANDROID-{k}", stale=120,
                                cot_type="a-h-G", callsign="VIPER-1") for k in range(5)]
    assert read_sightings(pytak_made) is None
    assert all(e.extra_detail.startswith("<_flow-tags_") for e in parse_cot_many(pytak_made))
    atak = [_xml(uid=f"S-{k}", type="a-u-G-U-C-I", access="Undefined",
                 point='lat="36.5" lon="41.25" hae="0" ce="10" le="10" extra="1"',
                 detail=f'<detail><contact callsign="HAWK-{k}" phone="123"/><remarks>seen {k}</remarks></detail>')
            for k in range(4)]
    assert _same_as_general(atak)
    replayed = [to_cot_xml(sighting_event(f"p{k}", 36.4 + k * 1e-4, 41.0, callsign="EAGLE-2", when=T0,
                                          remarks=f"seq {k}")) for k in range(50)]
    assert _same_as_general(replayed)


def test_anything_else_goes_the_general_way():
    """Each batch is of one shape (two events alike but for the uid), so that only the feature
    named decides: either the columns are not read, or they say what the general path says
    (which for most of these is a refusal or a field the columns have no place for)."""
    def pair(**kw):
        return [_xml(uid=f"U-{k}", **kw) for k in range(2)]

    contact = '<contact callsign="A"/>'
    for batch in (
        pair(type="a-f-G"),                                                   # a unit's own position
        pair(type="a-h-G", detail=f'<detail>{contact}<__group name="Cyan" role="Team"/></detail>'),
        pair(type="a-h-G", detail='<detail><contact callsign="A" endpoint="1.2.3.4:4242:tcp"/></detail>'),
        pair(type="a-h-G", detail=f'<detail>{contact}<remarks source="x">hi</remarks></detail>'),
        pair(type="a-h-G", detail=f'<detail>{contact}<remarks>a<b/></remarks></detail>'),
        pair(type="a-h-G", detail=f'<detail>{contact}<remarks>a</remarks><remarks>b</remarks></detail>'),
        pair(type="a-h-G", detail=f'<detail>{contact}{contact}</detail>'),
        pair(type="a-h-G", detail=f'<detail>{contact}<_flow-tags_ x="1"/></detail>'),
        pair(type="a-h-G", time="2025-03-01T15:00:00+03:00"),                 # a zone other than Z: same instant
        pair(type="a-h-G", point='lat="91" lon="0" hae="0" ce="0" le="0"'),   # refused by the general path
        pair(type="a-h-G", point='lat="1" lon="0" hae="0" ce="0"'),           # le missing
        pair(type="a-h-G", version="2.1"),
        pair(type="a-h-G", stale="2025-03-01T11:00:00Z"),                     # stale before start
        [_xml(uid="U-0", type="a-h-G"), _xml(uid="U-1", type="a-h-G", detail=f"<detail>{contact}</detail>")],
    ):
        _same_as_general(batch)
    assert _same_as_general(pair(type="a-h-G", detail=f"<detail>{contact}<remarks>x &amp; y</remarks></detail>"))
    assert read_sightings([]) is None and read_sightings([], min_batch=0) is None
    # A handful of events is cheaper the general way (a unit reporting now and then).
    few = [_xml(uid=f"U-{k}", type="a-h-G") for k in range(MIN_BATCH)]
    assert read_sightings(few[:-1]) is None and read_sightings(few) is not None


def test_columns_become_the_same_detections(iraq_syria):
    """`to_detections` from the columns = `sightings_to_detections` from the events, value for value
    (an empty callsign names the reporter by uid; ce unknown or below 1 m as the events treat it)."""
    proj = LocalProjection.from_string(iraq_syria.crs)
    rng = np.random.default_rng(3)
    evs = [CotEvent(uid=f"p{k}", type=["a-h-G-U-C-I", "a-u-G-E-V", "a-h-G"][k % 3], how="h-e",
                    time=T0 + timedelta(seconds=k // 4), start=T0, stale=T0 + timedelta(minutes=5),
                    lat=36.4 + rng.uniform(0, 0.1), lon=41.0 + rng.uniform(0, 0.1),
                    ce=[25.0, 0.2, 9_999_999.0][k % 3], callsign="EAGLE-2" if k % 2 else "")
           for k in range(40)]
    payloads = [to_cot_xml(e) for e in evs]
    cols = read_sightings(payloads)
    assert cols is not None and cols.events() == parse_cot_many(payloads)
    sensors = {"EAGLE-2": 3, **{f"p{k}": 10 + k for k in range(40)}}
    want = sightings_to_detections(cols.events(), proj, epoch=T0, sensors=sensors)
    got = to_detections(cols, proj, epoch=T0, sensors=sensors)
    halves = Sightings.concat([read_sightings(payloads[:20]), read_sightings(payloads[20:])])
    assert halves == cols                              # a step joins the reads of a party
    for name in ("t", "x", "y", "cov", "sensor", "category"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert set(got.sensor.tolist()) == {3} | {10 + k for k in range(0, 40, 2)}
