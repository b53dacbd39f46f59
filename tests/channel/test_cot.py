"""CoT codec and TAK Protocol v1 framing: real PyTAK/takproto bytes, round trips, hostile input."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.channel import cot as cot_module
from borderwatch.channel.cot import (MAX_BYTES, UNKNOWN, CotEvent, CotLink, parse_cot, parse_cot_many,
                                     parse_time, to_cot_xml)
from borderwatch.channel.takproto_codec import (Frame, StreamSplitter, decode_mesh, decode_stream,
                                                encode_mesh, encode_stream, event_to_message)
from borderwatch.errors import BorderwatchError, CotError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")          # pytak warns that aiohttp (enrolment only) is missing
    import pytak
    import takproto
    from pytak.functions import tak_pong

DATA = Path(__file__).parent / "data" / "cot"
T0 = datetime(2025, 3, 1, 12, 0, 0, 250_000, tzinfo=timezone.utc)


def _event(**kw) -> CotEvent:
    base = dict(uid="ANDROID-0a1b2c", type="a-h-G", how="h-e", time=T0, start=T0,
                stale=T0 + timedelta(minutes=5), lat=36.5, lon=41.25, hae=350.0, ce=25.0, le=10.0,
                callsign="VIPER-1")
    base.update(kw)
    return CotEvent(**base)


def _xml(point='lat="36.5" lon="41.25" hae="0" ce="10" le="10"', detail="<detail/>", **attrs) -> bytes:
    a = dict(version="2.0", uid="U-1", type="a-h-G", how="h-e", time="2025-03-01T12:00:00Z",
             start="2025-03-01T12:00:00Z", stale="2025-03-01T12:05:00Z")
    a.update(attrs)
    at = " ".join(f'{k}="{v}"' for k, v in a.items() if v is not None)
    return f"<event {at}><point {point}/>{detail}</event>".encode()


# -- what PyTAK and takproto produce ----------------------------------------------------

def test_pytak_gen_cot_sighting_parses():
    raw = pytak.gen_cot(lat=36.512345, lon=41.254321, ce=25, uid="ANDROID-1", stale=120,
                        cot_type="a-h-G", callsign="VIPER-1")
    e = parse_cot(raw)
    assert (e.uid, e.type, e.how, e.callsign) == ("ANDROID-1", "a-h-G", "m-g", "VIPER-1")
    assert e.lat == pytest.approx(36.5123) and e.lon == pytest.approx(41.2543)   # pytak truncates to 4 places
    assert e.ce == 25.0 and e.hae == UNKNOWN and e.le == UNKNOWN
    assert e.stale - e.start == pytest.approx(timedelta(seconds=120), abs=timedelta(milliseconds=5))
    assert "_flow-tags_" in e.extra_detail               # passed through verbatim
    assert parse_cot(to_cot_xml(e)) == e


def test_committed_pytak_sample_models_every_detail():
    e = parse_cot((DATA / "pytak_pli_full.xml").read_bytes())
    assert (e.uid, e.type, e.how) == ("ANDROID-f00d03", "a-u-G", "h-e")
    assert (e.lat, e.lon, e.hae, e.ce, e.le) == (36.498, 41.301, 412.0, 12.5, 20.0)
    assert (e.callsign, e.group_name, e.group_role) == ("HAWK-2", "Cyan", "Team Lead")
    assert e.remarks == "three on foot heading east"
    assert e.links == (CotLink("ANDROID-f00d02", "a-f-G-U-C", "p-p"),)
    assert e.dest_callsigns == ("HQ",) and e.dest_uids == ()
    for tag in ("<takv ", "<status ", "<track ", "<precisionlocation "):
        assert tag in e.extra_detail
    assert e.time.tzinfo is timezone.utc and e.time.microsecond == 811032
    assert parse_cot(to_cot_xml(e)) == e


def test_takproto_stream_and_mesh_samples_decode_like_their_xml():
    xml = parse_cot((DATA / "pytak_pli_full.xml").read_bytes())
    s = decode_stream((DATA / "takproto_stream.bin").read_bytes())
    # takproto keeps whole milliseconds and moves takv/status/track/precisionlocation to typed fields
    assert abs(s.time - xml.time) < timedelta(milliseconds=1)
    assert replace(s, time=xml.time, start=xml.start, stale=xml.stale, extra_detail="") == \
        replace(xml, extra_detail="")
    assert 'battery="87"' in s.extra_detail and 'version="4.10.0.57"' in s.extra_detail
    m = decode_mesh((DATA / "takproto_mesh.bin").read_bytes())
    assert (m.uid, m.callsign, m.type) == ("ANDROID-f00d01", "VIPER-1", "a-h-G-U-C-I")


def test_our_frames_are_what_takproto_reads_and_writes():
    e = _event(remarks="two vehicles", group_name="Cyan", group_role="Team Member",
               links=(CotLink("ANDROID-2", "a-f-G", "p-p"),), dest_uids=("ANDROID-9",))
    stream, mesh = encode_stream(e), encode_mesh(e)
    assert stream[0] == 0xBF and mesh[:3] == b"\xbf\x01\xbf"
    # takproto parses our bytes to the same message we built
    assert takproto.parse_proto(bytearray(stream)) == event_to_message(e)
    assert takproto.parse_proto(bytearray(mesh)) == event_to_message(e)
    # and its own framing of the same message is byte-identical to ours
    msg = event_to_message(e)
    assert bytes(takproto.functions.msg2proto(msg, takproto.TAKProtoVer.STREAM)) == stream
    assert bytes(takproto.functions.msg2proto(msg, takproto.TAKProtoVer.MESH)) == mesh
    assert decode_stream(stream) == e == decode_mesh(mesh)      # T0 is whole milliseconds


def test_takproto_xml2proto_of_our_xml_decodes_to_the_same_event():
    e = _event(remarks="x & y < z", group_name="Cyan", group_role="Team Member")
    for ver in (takproto.TAKProtoVer.STREAM, takproto.TAKProtoVer.MESH):
        raw = bytes(takproto.xml2proto(to_cot_xml(e), ver))
        got = decode_stream(raw) if ver == takproto.TAKProtoVer.STREAM else decode_mesh(raw)
        assert got == e


# -- round trips --------------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40) \
    .filter(lambda s: all(c in "\t\n\r" or ord(c) >= 0x20 for c in s)) \
    .filter(lambda s: all(not (0xFFFE <= ord(c) <= 0xFFFF) for c in s))
_uid = st.from_regex(r"[A-Za-z0-9_.:@+\-/~#,()\[\]!$*= ]{1,40}", fullmatch=True)
_type = st.from_regex(r"[a-z](-[A-Za-z0-9_.]{1,5}){0,6}", fullmatch=True)
_time = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1),
                     timezones=st.just(timezone.utc))
_extra = st.sampled_from(["", '<takv platform="ATAK-CIV" version="4.10"/>',
                          '<__video url="rtsp://10.0.0.1/cam"><ConnectionEntry alias="a &amp; b"/></__video>',
                          '<link point="36.1,41.2"/><status battery="50"/>',
                          '<remarks source="BAO.F.ATAK.x" to="All Chat Rooms">hi</remarks>'])


@st.composite
def events(draw):
    start = draw(_time)
    return CotEvent(
        uid=draw(_uid), type=draw(_type), how=draw(_type), time=draw(_time), start=start,
        stale=start + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))),
        lat=draw(st.floats(-90, 90)), lon=draw(st.floats(-180, 180)),
        hae=draw(st.floats(-1e4, 1e5) | st.just(UNKNOWN)), ce=draw(st.floats(0, 1e5) | st.just(UNKNOWN)),
        le=draw(st.floats(0, 1e5) | st.just(UNKNOWN)),
        callsign=draw(st.none() | _text), endpoint=draw(st.none() | _text),
        group_name=draw(st.none() | _text), group_role=draw(st.none() | _text),
        remarks=draw(st.none() | _text),
        links=tuple(draw(st.lists(st.builds(CotLink, _uid, st.just("") | _type, st.just("") | _type),
                                  max_size=3))),
        dest_callsigns=tuple(draw(st.lists(_text, max_size=2))),
        dest_uids=tuple(draw(st.lists(_uid, max_size=2))),
        extra_detail=draw(_extra))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_xml_round_trip(e):
    assert parse_cot(to_cot_xml(e)) == e
    assert parse_cot(to_cot_xml(e, declaration=False)) == e


def _ms(dt: datetime) -> datetime:
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_protobuf_round_trip(e):
    # Protobuf has no "absent" for strings: an empty callsign/name reads back as absent.
    def norm(ev):
        return replace(ev, time=_ms(ev.time), start=_ms(ev.start), stale=_ms(ev.stale),
                       **{k: getattr(ev, k) or None for k in ("callsign", "endpoint", "group_name",
                                                             "group_role")})
    if norm(e).stale < norm(e).start:
        return
    assert norm(decode_stream(encode_stream(e))) == norm(e)
    assert norm(decode_mesh(encode_mesh(e))) == norm(e)


# -- hostile and malformed input ---------------------------------------------------------

XXE = b"""<?xml version="1.0"?><!DOCTYPE event [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<event version="2.0" uid="U" type="a-h-G" how="h-e" time="2025-03-01T12:00:00Z" start="2025-03-01T12:00:00Z"
 stale="2025-03-01T12:05:00Z"><point lat="0" lon="0" hae="0" ce="0" le="0"/><detail><remarks>&x;</remarks></detail>
</event>"""
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                     for i in range(1, 10))
          + b"]>" + _xml(detail="<detail><remarks>&lol9;</remarks></detail>"))


@pytest.mark.parametrize("data, field, words", [
    (XXE, "xml", "DTD"),
    (LAUGHS, "xml", "entity"),
    (_xml(detail="<detail><remarks>&undefined;</remarks></detail>"), "xml", "well-formed"),
    (_xml(detail="<detail>" + "<a>" * 40 + "</a>" * 40 + "</detail>"), "a", "deeper"),
    (_xml(uid="U" * 5000), "event@uid", "4096"),
    (_xml(uid="U" * 300), "event@uid", "identifier"),
    (_xml(uid="bad<uid"), "xml", "well-formed"),
    (_xml(uid="semi;colon"), "event@uid", "identifier"),
    (_xml(type="a h G"), "event@type", "CoT type"),
    (_xml(uid=None), "event@uid", "missing"),
    (_xml(point='lat="nan" lon="0" hae="0" ce="0" le="0"'), "point@lat", "decimal"),
    (_xml(point='lat="1e999" lon="0" hae="0" ce="0" le="0"'), "point@lat", "finite"),
    (_xml(point='lat="90.5" lon="0" hae="0" ce="0" le="0"'), "point@lat", "outside"),
    (_xml(point='lat="0" lon="-180.01" hae="0" ce="0" le="0"'), "point@lon", "outside"),
    (_xml(point='lat="0" lon="0" hae="0" ce="-1" le="0"'), "point@ce", "outside"),
    (_xml(point='lat="0" lon="0" hae="0" ce="10000000" le="0"'), "point@ce", "outside"),
    (_xml(point='lat="0" lon="0" hae="0" ce="1_0" le="0"'), "point@ce", "decimal"),
    (_xml(point='lat="0" lon="0" hae="0" ce="0"'), "point@le", "missing"),
    (_xml(stale="2025-03-01T11:59:59Z"), "event@stale", "before start"),
    (_xml(time="2025-03-01 12:00:00Z"), "event@time", "ISO-8601"),
    (_xml(time="2025-03-01T12:00:00"), "event@time", "ISO-8601"),
    (_xml(time="2025-02-30T12:00:00Z"), "event@time", "not a real time"),
    (_xml(start="0001-01-01T00:00:00Z", time="0001-01-01T00:00:00Z"), "event@time", "year 1"),
    (_xml(version="1.1"), "event@version", "2.0"),
    (_xml(detail="<detail><contact callsign='a'/><contact callsign='b'/></detail>"), "detail/contact", "twice"),
    (_xml(detail="<detail><marti><dest mission='m'/></marti></detail>"), "detail/marti/dest", "callsign or uid"),
    (b"<point/>", "event", "not <event>"),
    (_xml().replace(b"<point", b"<pnt"), "event/pnt", "unexpected"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?>' + _xml(), "xml", "UTF-8"),
    (_xml(uid="Ux").replace(b"Ux", b"U\xff"), "xml", "UTF-8"),
    (b"\x00\x01\x02", "xml", "well-formed"),
    (b"", "xml", "empty"),
    (b" " * (MAX_BYTES + 1), "xml", "limit"),
])
def test_refused_with_a_reason(data, field, words):
    with pytest.raises(CotError) as info:
        parse_cot(data)
    assert info.value.field == field
    assert words.lower() in str(info.value).lower()
    assert isinstance(info.value, BorderwatchError)


def test_defusedxml_refuses_what_we_refuse():
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring
    for bomb in (XXE, LAUGHS):
        with pytest.raises(DefusedXmlException):
            fromstring(bomb)
        with pytest.raises(CotError):
            parse_cot(bomb)


def test_limits_are_parameters():
    deep = _xml(detail="<detail>" + "<a>" * 5 + "</a>" * 5 + "</detail>")
    assert parse_cot(deep).extra_detail.startswith("<a>")
    with pytest.raises(CotError, match="deeper than 4"):
        parse_cot(deep, max_depth=4)
    with pytest.raises(CotError, match="limit is 100"):
        parse_cot(deep, max_bytes=100)


def test_time_forms():
    assert parse_time("2025-03-01T12:00:00Z") == datetime(2025, 3, 1, 12, tzinfo=timezone.utc)
    assert parse_time("2025-03-01T14:00:00.123456789+02:00") == \
        datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
    assert to_cot_xml(_event()).count(b'.250Z"') == 3        # ATAK's millisecond form
    with pytest.raises(CotError):
        parse_time("2025-03-01T12:00:60Z")


def test_construction_validates():
    with pytest.raises(CotError, match="point@lat"):
        _event(lat=float("nan"))
    with pytest.raises(CotError, match="timezone-aware"):
        _event(time=datetime(2025, 1, 1))
    with pytest.raises(CotError, match="U\\+0001"):
        _event(remarks="bell\x01")
    with pytest.raises(CotError, match="fields of their own"):
        _event(extra_detail="<contact callsign='x'/>")
    with pytest.raises(CotError, match="well-formed"):
        _event(extra_detail="<open>")
    assert _event(extra_detail="<a  x='1' />").extra_detail == '<a x="1"/>'


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300) | st.builds(lambda a, b, c: a + b + c, st.binary(max_size=30),
                                          st.sampled_from([_xml(), XXE, to_cot_xml(_event())]),
                                          st.binary(max_size=30)))
def test_arbitrary_bytes_raise_only_cot_error(data):
    for decode in (parse_cot, decode_stream, decode_mesh):
        try:
            decode(data)
        except CotError:
            pass


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.integers(0, 300))
def test_mutated_frames_raise_only_cot_error(junk, at):
    frame = bytearray(encode_stream(_event(remarks="r", dest_callsigns=("HQ",))))
    at = min(at, len(frame))
    frame[at:at + len(junk)] = junk
    for decode in (decode_stream, decode_mesh, lambda b: Frame("proto", b[2:]).decode()):
        try:
            decode(bytes(frame))
        except CotError:
            pass


def test_frame_errors():
    e = _event()
    s = encode_stream(e)
    with pytest.raises(CotError, match="declares"):
        decode_stream(s[:-1])
    with pytest.raises(CotError, match="limit"):
        decode_stream(s, max_bytes=50)
    with pytest.raises(CotError, match="version 2"):
        decode_mesh(b"\xbf\x02\xbf" + encode_mesh(e)[3:])
    with pytest.raises(CotError, match="not a TAK protobuf"):
        decode_mesh(b"\xbf\x01\xbf\xff\xff\xff")
    with pytest.raises(CotError, match="no cotEvent"):
        decode_mesh(b"\xbf\x01\xbf")


# -- the stream splitter --------------------------------------------------------------------

def _wire_messages():
    a = _event(uid="A-1")
    b = _event(uid="B-2", remarks="</eve nt> > & quoted", callsign="q>uote")
    return [
        ("xml", to_cot_xml(a)),
        ("proto", encode_stream(b)),
        ("xml", to_cot_xml(b, declaration=False)),
        ("xml", tak_pong()),                                 # <event .../>: no </event>
        ("xml", pytak.gen_cot(lat=1, lon=2, uid="P-3", callsign="c")),
        ("proto", bytes(takproto.xml2proto(to_cot_xml(a), takproto.TAKProtoVer.STREAM))),
    ]


def _expected_payload(kind, raw):
    if kind == "proto":                      # 0xbf, varint length, protobuf
        i = 1
        while raw[i] & 0x80:
            i += 1
        return raw[i + 1:]
    return raw


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=12),
       st.lists(st.integers(1, 400), min_size=1, max_size=40),
       st.sampled_from([b"", b"\n", b"\r\n  "]))
def test_splitter_returns_exactly_the_messages_for_any_chunking(order, cuts, gap):
    msgs = _wire_messages()
    chosen = [msgs[i] for i in order]
    data = gap.join(raw for _, raw in chosen) + gap
    sp = StreamSplitter()
    got, pos, k = [], 0, 0
    while pos < len(data):
        n = cuts[k % len(cuts)]
        got += sp.feed(data[pos:pos + n])
        pos, k = pos + n, k + 1
    assert sp.close() is None and sp.pending == 0
    assert [(f.kind, f.payload) for f in got] == [(kind, _expected_payload(kind, raw)) for kind, raw in chosen]
    for f, (kind, raw) in zip(got, chosen):
        if b"takPong" not in raw:
            assert f.decode().uid in ("A-1", "B-2", "P-3")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80) | st.sampled_from([b"<event", b"</event>", b"\xbf", b"\xbf\x05",
                                                          b'"', b"/>", to_cot_xml(_event())]),
                max_size=20))
def test_splitter_on_garbage_yields_only_frames_and_errors(chunks):
    sp = StreamSplitter(max_message=300)
    for chunk in chunks:
        for item in sp.feed(chunk):
            assert isinstance(item, (Frame, CotError))
            if isinstance(item, Frame):
                try:
                    item.decode()
                except CotError:
                    pass
        assert sp.pending <= 300 + 80 + len(to_cot_xml(_event()))
    err = sp.close()
    assert err is None or isinstance(err, CotError)


# The start tag as first written: one byte at a time, lazily (slow, plainly right).
_START_TAG_REFERENCE = re.compile(rb"<event(?=[\s/>])(?:[^>\"']|\"[^\"]*\"|'[^']*')*?(/?)>")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"<event", b" ", b"\n", b"/", b">", b'"', b"'", b"a", b"=", b"/>", b"<"]),
                max_size=30))
def test_splitter_start_tag_is_found_as_the_byte_at_a_time_pattern_finds_it(parts):
    from borderwatch.channel.takproto_codec import _START_TAG

    data = b"".join(parts)
    for at in range(len(data) + 1):
        got, want = _START_TAG.search(data, at), _START_TAG_REFERENCE.search(data, at)
        assert (got and (got.span(), got.group(1))) == (want and (want.span(), want.group(1)))


def test_splitter_reads_the_captured_mixed_stream():
    data = (DATA / "stream_mixed.bin").read_bytes()
    frames = StreamSplitter().feed(data)
    assert [f.kind for f in frames] == ["xml", "xml", "proto", "xml"]
    assert [f.decode().uid for f in frames[:3]] == ["ANDROID-f00d01", "ANDROID-f00d03", "ANDROID-f00d01"]
    with pytest.raises(CotError, match="event/point"):                 # PyTAK's pong has no <point>
        frames[3].decode()


def test_splitter_skips_oversized_messages_and_goes_on():
    small = to_cot_xml(_event(uid="OK-1"))
    big_xml = to_cot_xml(_event(uid="BIG", remarks="x" * 5000))
    big_proto = encode_stream(_event(uid="BIG", remarks="y" * 5000))
    sp = StreamSplitter(max_message=2000)
    out = []
    stream = small + big_xml + small + big_proto + small
    for i in range(0, len(stream), 97):
        out += sp.feed(stream[i:i + 97])
        assert sp.pending <= 2000 + 97
    kinds = ["err" if isinstance(x, CotError) else x.decode().uid for x in out]
    assert kinds == ["OK-1", "err", "OK-1", "err", "OK-1"]
    assert sp.close() is None


def test_splitter_truncated_and_broken_streams():
    sp = StreamSplitter()
    whole = encode_stream(_event())
    assert sp.feed(whole[:-3]) == []
    err = sp.close()
    assert isinstance(err, CotError) and "ended inside" in str(err)

    sp = StreamSplitter()
    out = sp.feed(b"\xbf" + b"\xff" * 11)
    assert len(out) == 1 and "varint" in str(out[0])
    assert isinstance(sp.feed(to_cot_xml(_event()))[0], CotError)     # broken: the caller should close

    sp = StreamSplitter(mode="proto")
    assert isinstance(sp.feed(b"<event/>")[0], CotError)
    sp = StreamSplitter(mode="xml")
    (frame,) = sp.feed(b"\xbf" + to_cot_xml(_event()))          # 0xbf is no frame marker to it
    assert frame.kind == "xml"
    with pytest.raises(CotError):
        frame.decode()


def test_pytak_builds_elementtree_we_accept():
    # cot_event with the detail PyTAK's own helpers make (flow tags, remarks)
    detail = pytak.cot_detail()
    pytak.add_remarks(detail, ["a", "b"])
    raw = pytak.serialize_cot(pytak.cot_event(lat=10, lon=20, uid="X-1", cot_type="a-u-G",
                                              callsign="C", detail=detail), trailing_newline=True)
    e = parse_cot(raw)
    assert e.remarks == "a b" and e.callsign == "C"
    assert ET.fromstring(to_cot_xml(e, declaration=False)).get("uid") == "X-1"


# -- many events at once (what one read of a TAK stream brings) ----------------------------

def _one_by_one(payloads):
    out = []
    for p in payloads:
        try:
            out.append(parse_cot(p))
        except CotError as exc:
            out.append(exc)
    return out


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        if isinstance(w, CotError):
            assert isinstance(g, CotError) and (g.field, str(g)) == (w.field, str(w))
        else:
            assert g == w


_HOSTILE = [XXE, LAUGHS, _xml(detail="<detail>" + "<a>" * 40 + "</a>" * 40 + "</detail>"), _xml(uid="U" * 5000),
            _xml(point='lat="90.5" lon="0" hae="0" ce="0" le="0"'), _xml(stale="2025-03-01T11:59:59Z"),
            b"<point/>", b'<?xml version="1.0" encoding="ISO-8859-1"?>' + _xml(), b"\x00\x01", b"",
            _xml() + b"<event/>", b"<event><event>" + _xml()[6:], _xml() + b" junk", b"\xef\xbb\xbf" + _xml(),
            _xml(detail="<detail><!-- c --><remarks><![CDATA[x]]></remarks></detail>"),
            _xml(detail="<detail>" + "<e/>" * (cot_module.MAX_ELEMENTS + 1) + "</detail>")]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events().map(to_cot_xml) | events().map(lambda e: to_cot_xml(e, declaration=False))
                | st.sampled_from(_HOSTILE)
                | st.builds(lambda e, at, junk: (lambda b: b[:at] + junk + b[at:])(to_cot_xml(e)),
                            events(), st.integers(0, 400), st.binary(min_size=1, max_size=8)),
                max_size=12))
def test_many_at_once_is_exactly_one_by_one(payloads):
    _same(parse_cot_many(payloads), _one_by_one(payloads))


def test_a_clean_batch_is_parsed_as_one_document(monkeypatch):
    payloads = [to_cot_xml(_event(uid=f"U-{k}", remarks=f"seq {k}")) for k in range(50)]
    want = _one_by_one(payloads)
    calls = []
    monkeypatch.setattr(cot_module, "parse_cot", lambda *a, **k: calls.append(1))
    got = parse_cot_many(payloads)
    assert calls == [] and got == want
    # One bad event in the batch: every event is then read alone, and only that one is refused.
    bad = payloads[:3] + [_xml(point='lat="91" lon="0" hae="0" ce="0" le="0"')] + payloads[3:5]
    monkeypatch.undo()
    got = parse_cot_many(bad)
    assert [type(g).__name__ for g in got] == ["CotEvent"] * 3 + ["CotError"] + ["CotEvent"] * 2
    assert got[3].field == "point@lat"


def test_attribute_length_limit_in_a_batch_counts_characters_not_bytes(monkeypatch):
    """The batch skips its attribute-length XPath where no run of bytes between quotes is
    long enough; characters written as entities or as several UTF-8 bytes must not fool it."""
    limit = cot_module.MAX_ATTR_CHARS
    ok = _xml(detail=f'<detail><contact callsign="{"é" * limit}"/></detail>')      # 2 bytes a character
    escaped = _xml(detail=f'<detail><contact callsign="{"&amp;" * (limit + 1)}"/></detail>')
    long_text = _xml(detail=f"<detail><remarks>{'r' * (limit + 10)}</remarks></detail>")
    payloads = [_xml(uid="U-0"), ok, long_text, _xml(uid="U-3")]
    calls = []
    saved = cot_module.parse_cot
    monkeypatch.setattr(cot_module, "parse_cot", lambda *a, **k: calls.append(1) or saved(*a, **k))
    got = parse_cot_many(payloads)
    assert calls == [] and got == _one_by_one(payloads)        # one document, all accepted
    assert got[1].callsign == "é" * limit and len(got[2].remarks) == limit + 10
    got = parse_cot_many(payloads[:1] + [escaped])
    assert isinstance(got[1], CotError) and got[1].field == "contact@callsign"
    assert "4097 characters" in str(got[1])


def _build(fields, full: bool):
    saved = CotEvent._plain
    try:
        if full:
            CotEvent._plain = lambda self: False
        return CotEvent(**fields)
    except CotError as exc:
        return ("error", exc.field, str(exc))
    finally:
        CotEvent._plain = saved


_odd_time = st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2110, 1, 1),
                         timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=3))]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.fixed_dictionaries({}, optional={
    "lat": st.floats(allow_nan=True) | st.integers(-100, 100), "lon": st.floats(-200, 200),
    "ce": st.floats(-1, 2e7), "time": _odd_time, "start": _odd_time, "stale": _odd_time,
    "callsign": st.text(max_size=5) | st.just("x" * 5000), "remarks": st.text(max_size=5),
    "uid": st.text(max_size=5), "type": st.text(max_size=5), "links": st.just([]),
    "extra_detail": st.sampled_from(["", '<takv platform="ATAK"/>', cot_module.own_detail('<track speed="1"/>'),
                                     cot_module._Verbatim("")])}))
def test_construction_shortcut_is_exactly_the_full_checks(e, changes):
    fields = {n: getattr(e, n) for n in CotEvent.__dataclass_fields__}
    fields.update(changes)
    assert _build(fields, full=False) == _build(fields, full=True)


def test_a_plain_sighting_takes_the_shortcut_and_an_odd_one_does_not(monkeypatch):
    full = []
    check_all = CotEvent._check_all
    monkeypatch.setattr(CotEvent, "_check_all", lambda self: (full.append(self.uid), check_all(self)))
    _event(uid="plain", remarks="seq 1")
    _event(uid="group", group_name="Cyan")
    odd = _event(uid="int-lat", lat=1)                # an int: the full checks make it a float
    assert full == ["group", "int-lat"] and type(odd.lat) is float
