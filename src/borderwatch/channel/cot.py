"""Cursor-on-Target 2.0 events: one frozen record, a hardened parser, a writer.

A CoT event is the XML message every TAK client (ATAK, WinTAK, iTAK) speaks::

    <event version="2.0" uid="ANDROID-1" type="a-h-G" how="h-e"
           time="2024-05-01T10:00:00.000Z" start="..." stale="...">
      <point lat="36.4" lon="41.2" hae="9999999.0" ce="25.0" le="9999999.0"/>
      <detail>
        <contact callsign="VIPER-1" endpoint="*:-1:stcp"/>
        <__group name="Cyan" role="Team Member"/>
        <remarks>three on foot</remarks>
        <link uid="ANDROID-2" type="a-f-G" relation="p-p"/>
        <marti><dest callsign="HQ"/></marti>
        <takv .../>  <!-- anything else: kept verbatim in extra_detail -->
      </detail>
    </event>

`parse_cot` reads untrusted bytes: no DTD and no entity declarations at all
(XXE, billion laughs), no network, a byte limit before parsing, depth,
element-count and attribute-length limits after, strict ISO-8601 times,
finite coordinates in range, and a charset for identifiers. Every refusal is
a `CotError` naming the element and attribute (``point@lat``) and the reason.

What `CotEvent` models and what it keeps verbatim:

- ``contact`` → `callsign`, `endpoint` (other contact attributes such as
  ``phone`` are dropped), ``__group`` → `group_name`, `group_role`,
  ``marti`` → `dest_callsigns`, `dest_uids` (a ``dest`` without callsign
  or uid, e.g. a mission, is refused rather than silently broadcast).
- ``remarks`` without attributes → `remarks`; ``link`` with only
  uid/type/relation → `links`. Remarks or links carrying more (GeoChat
  ``source``/``to``, route ``point``, ``parent_callsign``) stay verbatim.
- Every other ``<detail>`` child is kept, serialized, in `extra_detail` and
  written back unchanged, so a server can relay what it does not understand.

Reference: MITRE, *Cursor-on-Target Message Router User's Guide* (MP 04W0000257)
and the CoT 2.0 event schema (``Event.xsd``); TAK-specific detail elements
as emitted by ATAK and by PyTAK.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from lxml import etree

from borderwatch.errors import CotError

MAX_BYTES = 65_536          # one event; ATAK's own are < 2 KiB, drawn shapes a few KiB
MAX_DEPTH = 16              # event/detail/x/y/...: real details nest 4-5 deep
MAX_ELEMENTS = 2_048
MAX_ATTR_CHARS = 4_096
MAX_TEXT_CHARS = 32_768     # remarks, extra_detail
MIN_YEAR, MAX_YEAR = 1970, 2100
UNKNOWN = 9_999_999.0       # CoT's "unknown" for hae, ce and le

_UID = re.compile(r"[\w.:@+\-/~#,()\[\]!$*= ]{1,256}", re.ASCII)
_TYPE = re.compile(r"[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+){0,31}", re.ASCII)
_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})")
_ILLEGAL_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECL = re.compile(rb"<\?xml\s+version\s*=\s*([\"'])1\.[0-9]+\1"
                   rb"(?:\s+encoding\s*=\s*([\"'])(?i:utf-?8)\2)?"
                   rb"(?:\s+standalone\s*=\s*([\"'])(?:yes|no)\3)?\s*\?>")
XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


# -- the record ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CotLink:
    """A ``<link uid type relation/>``: a relation to another CoT object (``p-p`` parent)."""

    uid: str
    type: str = ""
    relation: str = ""

    def __post_init__(self) -> None:
        _check_uid("detail/link@uid", self.uid)
        if self.type:
            _check_type("detail/link@type", self.type)
        if self.relation:
            _check_type("detail/link@relation", self.relation)


class _Verbatim(str):
    """extra_detail already serialized by our own parser: no need to parse it again."""

    __slots__ = ()


def own_detail(xml: str) -> str:
    """Mark `extra_detail` XML that this package writes itself (well-formed, escaped, no
    element that has a field of its own) so that `CotEvent` does not parse it again: the
    tracker's ``<track course speed>`` on thousands of tracks a scan. Never for input."""
    return _Verbatim(xml)


@dataclass(frozen=True, slots=True)
class CotEvent:
    """One CoT 2.0 event. Times are UTC-aware datetimes; hae/ce/le use 9999999 for unknown.

    Constructing one validates it, so anything `to_cot_xml` writes parses back.
    """

    uid: str
    type: str
    time: datetime
    start: datetime
    stale: datetime
    lat: float
    lon: float
    hae: float = UNKNOWN
    ce: float = UNKNOWN
    le: float = UNKNOWN
    how: str = "m-g"
    callsign: str | None = None
    endpoint: str | None = None
    group_name: str | None = None
    group_role: str | None = None
    remarks: str | None = None
    links: tuple[CotLink, ...] = ()
    dest_callsigns: tuple[str, ...] = ()
    dest_uids: tuple[str, ...] = ()
    extra_detail: str = field(default="")

    def __post_init__(self) -> None:
        if self._plain():
            return
        self._check_all()

    def _plain(self) -> bool:
        """True when every field already has the form `_check_all` would leave it in: UTC times
        in range, floats in range, identifiers, a clean callsign and remarks, no other text,
        links or destinations, and extra detail that is empty or verbatim (which `_check_all`
        keeps unchecked too): what parsed sightings and our own tracks are. Construction then
        skips the general path; anything else, or any doubt, takes `_check_all`."""
        utc = timezone.utc
        t, st, sl = self.time, self.start, self.stale
        if not (type(t) is datetime and type(st) is datetime and type(sl) is datetime
                and t.tzinfo is utc and st.tzinfo is utc and sl.tzinfo is utc
                and MIN_YEAR <= t.year <= MAX_YEAR and MIN_YEAR <= st.year <= MAX_YEAR
                and MIN_YEAR <= sl.year <= MAX_YEAR and st <= sl):
            return False
        lat, lon, hae, ce, le = self.lat, self.lon, self.hae, self.ce, self.le
        if not (type(lat) is float and type(lon) is float and type(hae) is float and type(ce) is float
                and type(le) is float and -90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0
                and -UNKNOWN <= hae <= UNKNOWN and 0.0 <= ce <= UNKNOWN and 0.0 <= le <= UNKNOWN):
            return False
        extra = self.extra_detail
        if (self.endpoint is not None or self.group_name is not None or self.group_role is not None
                or self.links != () or self.dest_callsigns != () or self.dest_uids != ()
                or not (type(extra) is _Verbatim or (type(extra) is str and extra == ""))):
            return False
        cs, rm = self.callsign, self.remarks
        if cs is not None and (type(cs) is not str or len(cs) > MAX_ATTR_CHARS or _ILLEGAL_XML.search(cs)):
            return False
        if rm is not None and (type(rm) is not str or len(rm) > MAX_TEXT_CHARS or _ILLEGAL_XML.search(rm)):
            return False
        _check_uid("event@uid", self.uid)
        _check_type("event@type", self.type)
        _check_type("event@how", self.how)
        if type(extra) is not str:                   # verbatim (ours, or parsed): kept as it is
            object.__setattr__(self, "extra_detail", str(extra))
        return True

    def _check_all(self) -> None:
        _check_uid("event@uid", self.uid)
        _check_type("event@type", self.type)
        _check_type("event@how", self.how)
        for name in ("time", "start", "stale"):
            object.__setattr__(self, name, _check_time(f"event@{name}", getattr(self, name)))
        if self.stale < self.start:
            raise CotError("event@stale", f"{_fmt_time(self.stale)} is before start {_fmt_time(self.start)}")
        for name, lo, hi in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0), ("hae", -UNKNOWN, UNKNOWN),
                             ("ce", 0.0, UNKNOWN), ("le", 0.0, UNKNOWN)):
            object.__setattr__(self, name, _check_number(f"point@{name}", getattr(self, name), lo, hi))
        for name, where in (("callsign", "detail/contact@callsign"), ("endpoint", "detail/contact@endpoint"),
                            ("group_name", "detail/__group@name"), ("group_role", "detail/__group@role")):
            _check_text(where, getattr(self, name), MAX_ATTR_CHARS)
        _check_text("detail/remarks", self.remarks, MAX_TEXT_CHARS)
        links = tuple(self.links)
        if not all(isinstance(k, CotLink) for k in links):
            raise CotError("detail/link", "links must be CotLink records")
        object.__setattr__(self, "links", links)
        object.__setattr__(self, "dest_callsigns", tuple(self.dest_callsigns))
        object.__setattr__(self, "dest_uids", tuple(self.dest_uids))
        for c in self.dest_callsigns:
            _check_text("detail/marti/dest@callsign", c, MAX_ATTR_CHARS)
        for u in self.dest_uids:
            _check_uid("detail/marti/dest@uid", u)
        extra = self.extra_detail
        if isinstance(extra, _Verbatim):
            object.__setattr__(self, "extra_detail", str(extra))
        elif extra:
            object.__setattr__(self, "extra_detail", _canonical_extra(extra))

    @property
    def detail_xml(self) -> str:
        """The whole ``<detail>`` element as `to_cot_xml` writes it."""
        return _detail_xml(self)

    @property
    def is_stale(self) -> bool:
        return self.stale <= datetime.now(timezone.utc)


# -- field checks ----------------------------------------------------------------

def _check_uid(where: str, value) -> None:
    if not isinstance(value, str) or not _UID.fullmatch(value):
        raise CotError(where, f"{_show(value)} is not an identifier (1-256 of A-Z a-z 0-9 _.:@+-/~#,()[]!$*= "
                              f"and space)")


def _check_type(where: str, value) -> None:
    if not isinstance(value, str) or len(value) > 96 or not _TYPE.fullmatch(value):
        raise CotError(where, f"{_show(value)} is not a CoT type (dash-separated atoms such as a-h-G, "
                              f"at most 96 characters)")


def _check_text(where: str, value, limit: int) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise CotError(where, f"must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise CotError(where, f"is {len(value)} characters long; the limit is {limit}")
    bad = _ILLEGAL_XML.search(value)
    if bad:
        raise CotError(where, f"contains character U+{ord(bad.group()):04X}, which XML cannot carry")


def _check_number(where: str, value, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise CotError(where, f"{_show(value)} is not a number") from None
    if not math.isfinite(v):
        raise CotError(where, f"{v} is not a finite number")
    if not lo <= v <= hi:
        raise CotError(where, f"{v} is outside [{lo:g}, {hi:g}]")
    return v


def _check_time(where: str, value) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise CotError(where, f"{_show(value)} is not a timezone-aware datetime")
    v = value.astimezone(timezone.utc)
    if not MIN_YEAR <= v.year <= MAX_YEAR:
        raise CotError(where, f"year {v.year} is outside {MIN_YEAR}-{MAX_YEAR}")
    return v


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- times -------------------------------------------------------------------------

_TIME_CACHE: dict = {}     # text → datetime: a sweep's reports share their time, start and stale
_TIME_CACHE_MAX = 8192


def parse_time(text: str, where: str = "time") -> datetime:
    """An xs:dateTime as CoT writes it (``2024-05-01T10:00:00.000Z``) → aware UTC datetime.

    A zone (``Z`` or ``±hh:mm``) is required; fractions beyond microseconds are cut.
    """
    if isinstance(text, str):
        hit = _TIME_CACHE.get(text)
        if hit is not None:
            return hit
    value = _parse_time(text, where)
    if len(_TIME_CACHE) >= _TIME_CACHE_MAX:
        _TIME_CACHE.clear()
    _TIME_CACHE[text] = value
    return value


def _parse_time(text: str, where: str) -> datetime:
    m = _TIME.fullmatch(text)
    if not m:
        raise CotError(where, f"{_show(text)} is not an ISO-8601 UTC time like 2024-05-01T10:00:00.000Z")
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    us = int((frac or "0")[:6].ljust(6, "0"))
    if zone == "Z":
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        hh, mm = int(zone[1:3]), int(zone[4:6])
        if hh > 23 or mm > 59:
            raise CotError(where, f"{_show(text)} has an impossible zone offset")
        tz = timezone(sign * timedelta(hours=hh, minutes=mm))
    try:
        value = datetime(y, mo, d, h, mi, s, us, tzinfo=tz)
    except ValueError as exc:
        raise CotError(where, f"{_show(text)} is not a real time ({exc})") from None
    return _check_time(where, value)


_FMT_CACHE: dict = {}      # datetime → text, for the same reason


def _fmt_time(dt: datetime) -> str:
    hit = _FMT_CACHE.get(dt)
    if hit is not None:
        return hit
    text = _fmt_time_uncached(dt)
    if len(_FMT_CACHE) >= _TIME_CACHE_MAX:
        _FMT_CACHE.clear()
    _FMT_CACHE[dt] = text
    return text


def _fmt_time_uncached(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    us = dt.microsecond
    frac = f"{us // 1000:03d}" if us % 1000 == 0 else f"{us:06d}"
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{frac}Z"


format_time = _fmt_time


# -- parsing -----------------------------------------------------------------------

_local = threading.local()


def _parser() -> etree.XMLParser:
    # lxml parsers are not thread-safe: one per thread.
    p = getattr(_local, "parser", None)
    if p is None:
        p = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                            huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False,
                            encoding="utf-8")
        _local.parser = p
    return p


def _xml_root(data, max_bytes: int, max_depth: int, what: str = "xml"):
    """Bytes → lxml root element, with every safety check that does not need CoT semantics."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CotError(what, f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise CotError(what, f"message is {len(data)} bytes; the limit is {max_bytes}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = data.lstrip(b" \t\r\n")
    if not data:
        raise CotError(what, "message is empty")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data or b"<!doctype" in data:
        raise CotError(what, "DTDs and entity declarations are refused (XXE, entity expansion)")
    if data.startswith(b"<?xml"):
        m = _DECL.match(data)
        if not m:
            raise CotError(what, "the XML declaration must say version 1.x and, if any, encoding UTF-8")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CotError(what, f"not valid UTF-8 at byte {exc.start}") from None
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        msg = str(exc.msg or exc).strip()
        raise CotError(what, f"not well-formed XML: {msg[:160]}") from None
    except (ValueError, TypeError) as exc:   # lxml refuses a few inputs this way (NUL bytes...)
        raise CotError(what, f"not parseable: {str(exc)[:160]}") from None
    _walk_limits(root, max_depth)
    return root


def _walk_limits(root, max_depth: int) -> None:
    depth = 0
    count = 0
    for action, el in etree.iterwalk(root, events=("start", "end")):
        if action == "end":
            depth -= 1
            continue
        depth += 1
        count += 1
        if not isinstance(el.tag, str):
            raise CotError("xml", "entity references are refused")
        if depth > max_depth:
            raise CotError(el.tag, f"nesting is deeper than {max_depth} elements")
        if count > MAX_ELEMENTS:
            raise CotError("xml", f"more than {MAX_ELEMENTS} elements")
        for k, v in el.attrib.items():
            if len(v) > MAX_ATTR_CHARS:
                raise CotError(f"{el.tag}@{k}", f"is {len(v)} characters long; the limit is {MAX_ATTR_CHARS}")


def _attr(el, name: str, where: str) -> str:
    v = el.get(name)
    if v is None:
        raise CotError(f"{where}@{name}", "is missing")
    return v


def _num(el, name: str) -> float:
    v = el.get(name)
    if v is None:
        raise CotError(f"point@{name}", "is missing")
    if not _NUM.fullmatch(v):
        raise CotError(f"point@{name}", f"{_show(v)} is not a decimal number")
    return float(v)


def parse_cot(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> CotEvent:
    """One CoT XML event (bytes, an optional ``<?xml?>`` declaration first) → `CotEvent`.

    Raises `CotError` for anything unsafe, malformed or out of range, never another exception.
    """
    root = _xml_root(data, max_bytes, max_depth)
    return _event_from_root(root)


_BATCH_CHECKS: dict[int, tuple] = {}
# Where an attribute value of more than MAX_ATTR_CHARS characters could be: = "…" or = '…'.
_LONG_ATTR_RUN = re.compile(rb'=[ \t\r\n]*(?:"[^"]{%d,}"|\'[^\']{%d,}\')' % (MAX_ATTR_CHARS + 1, MAX_ATTR_CHARS + 1))


def _batch_checks(max_depth: int) -> tuple:
    """XPath forms of `_walk_limits` over a batch root whose children are the events."""
    got = _BATCH_CHECKS.get(max_depth)
    if got is None:
        got = _BATCH_CHECKS[max_depth] = (
            etree.XPath("boolean(" + "/".join(["*"] * (max_depth + 1)) + ")"),     # too deep
            etree.XPath(f"boolean(*[count(descendant-or-self::*) > {MAX_ELEMENTS}])"),
            etree.XPath(f"boolean(//@*[string-length(.) > {MAX_ATTR_CHARS}])"))
    return got


def parse_cot_many(payloads: list[bytes], *, max_bytes: int = MAX_BYTES,
                   max_depth: int = MAX_DEPTH) -> list[CotEvent | CotError]:
    """`parse_cot` for each of `payloads` (one event each, as a stream splitter cuts them),
    in order: a `CotEvent` or the `CotError` `parse_cot` would raise.

    What a TAK stream brings in one read is parsed as one document (one call into libxml2
    and one set of XPath limit checks instead of one per event), then each event is read by
    the same code as `parse_cot`. Only well-behaved payloads take that path: anything the
    batch cannot vouch for (a payload that is not one ``<event>`` after its declaration, a
    DTD, bad UTF-8, a limit or a syntax error anywhere) sends the whole batch through
    `parse_cot` one by one, so every result and every error is exactly `parse_cot`'s.
    """
    if len(payloads) > 1:
        got = _parse_batch(payloads, max_bytes, max_depth)
        if got is not None:
            return got
    out: list[CotEvent | CotError] = []
    for data in payloads:
        try:
            out.append(parse_cot(data, max_bytes=max_bytes, max_depth=max_depth))
        except CotError as exc:
            out.append(exc)
    return out


def batch_root(payloads: list[bytes], max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH):
    """`payloads` (one event each) parsed as one document whose children are the events, or
    None where the batch cannot vouch for every one of them as `parse_cot` would (see
    `parse_cot_many`): then each must be read alone."""
    parts = []
    for data in payloads:
        if not isinstance(data, bytes) or len(data) > max_bytes:
            return None
        if data.startswith(b"<?xml"):
            m = _DECL.match(data)
            if m is None:
                return None
            data = data[m.end():].lstrip(b" \t\r\n")
        if not data.startswith(b"<event"):
            return None
        parts.append(data)
    body = b"".join(parts)
    if b"<!" in body or b"<?" in body:        # DTDs, entities, CDATA, comments, PIs: the slow path
        return None
    try:
        body.decode("utf-8")
        root = etree.fromstring(b"<batch>" + body + b"</batch>", _parser())
    except (UnicodeDecodeError, etree.XMLSyntaxError, ValueError, TypeError):
        return None
    if len(root) != len(parts) or (root.text and root.text.strip()):
        return None
    deep, many, long_attr = _batch_checks(max_depth)
    # The attribute-length XPath visits every attribute (2-4 µs an event). A value of more
    # than MAX_ATTR_CHARS characters is more bytes than that between its quotes (entities
    # and UTF-8 only ever shrink bytes into characters): none in payloads shorter than
    # that, none where no such run of bytes is found.
    if deep(root) or many(root) or (max(map(len, parts)) > MAX_ATTR_CHARS
                                    and _LONG_ATTR_RUN.search(body) is not None and long_attr(root)) \
            or next(root.iter(etree.Entity, etree.Comment, etree.ProcessingInstruction), None) is not None:
        return None
    for el in root:
        if el.tail and el.tail.strip():
            return None
    return root


def _parse_batch(payloads: list[bytes], max_bytes: int, max_depth: int) -> list[CotEvent | CotError] | None:
    root = batch_root(payloads, max_bytes, max_depth)
    if root is None:
        return None
    out: list[CotEvent | CotError] = []
    for el in root:
        try:
            out.append(_event_from_root(el))
        except CotError as exc:
            out.append(exc)
    return out


def _event_from_root(root) -> CotEvent:
    if root.tag != "event":
        raise CotError("event", f"the root element is <{_show(root.tag)[1:-1]}>, not <event>")
    version = root.get("version")
    if version is not None and version != "2.0":
        raise CotError("event@version", f"{_show(version)} is not 2.0")
    uid = _attr(root, "uid", "event")
    typ = _attr(root, "type", "event")
    how = _attr(root, "how", "event")
    times = {n: parse_time(_attr(root, n, "event"), f"event@{n}") for n in ("time", "start", "stale")}
    point = detail = None
    for child in root:
        if child.tag == "point" and point is None:
            point = child
        elif child.tag == "detail" and detail is None:
            detail = child
        else:
            raise CotError(f"event/{child.tag}", "unexpected element (an event holds one <point> and one <detail>)")
    if point is None:
        raise CotError("event/point", "is missing")
    coords = {n: _num(point, n) for n in ("lat", "lon", "hae", "ce", "le")}
    parts = _split_detail(detail) if detail is not None else {}
    return CotEvent(uid=uid, type=typ, how=how, **times, **coords, **parts)


_LINK_ATTRS = frozenset(("uid", "type", "relation"))
_DEST_ATTRS = frozenset(("callsign", "uid"))


def _split_detail(detail) -> dict:
    """`<detail>` element → the modeled fields plus the verbatim rest."""
    out: dict = {}
    links: list[CotLink] = []
    extra: list[str] = []
    seen: set[str] = set()

    def once(tag: str) -> None:
        if tag in seen:
            raise CotError(f"detail/{tag}", "appears twice")
        seen.add(tag)

    for child in detail:
        tag = child.tag
        if tag == "contact":
            once(tag)
            out["callsign"] = child.get("callsign")
            out["endpoint"] = child.get("endpoint")
        elif tag == "__group":
            once(tag)
            out["group_name"] = child.get("name")
            out["group_role"] = child.get("role")
        elif tag == "marti":
            once(tag)
            calls, uids = [], []
            for dest in child:
                if dest.tag != "dest":
                    raise CotError(f"detail/marti/{dest.tag}", "only <dest> is understood inside <marti>")
                keys = set(dest.attrib)
                if not keys or not keys <= _DEST_ATTRS:
                    raise CotError("detail/marti/dest", f"attributes {sorted(keys)} are not understood; "
                                                        "give callsign or uid")
                if dest.get("callsign") is not None:
                    calls.append(dest.get("callsign"))
                if dest.get("uid") is not None:
                    uids.append(dest.get("uid"))
            out["dest_callsigns"] = tuple(calls)
            out["dest_uids"] = tuple(uids)
        elif tag == "remarks" and not child.attrib and len(child) == 0:
            once(tag)
            out["remarks"] = child.text or ""
        elif (tag == "link" and len(child) == 0 and "uid" in child.attrib
              and set(child.attrib) <= _LINK_ATTRS):
            links.append(CotLink(child.get("uid"), child.get("type", ""), child.get("relation", "")))
        else:
            extra.append(etree.tostring(child, encoding="unicode", with_tail=False))
    if links:
        out["links"] = tuple(links)
    text = "".join(extra)
    if len(text) > MAX_TEXT_CHARS:
        raise CotError("detail", f"unmodeled detail is {len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    out["extra_detail"] = _Verbatim(text)
    return out


def _canonical_extra(extra: str) -> str:
    """User-given extra detail → our serialization; refuses elements that have a field of their own."""
    if not isinstance(extra, str):
        raise CotError("detail", f"extra_detail must be text, got {type(extra).__name__}")
    if len(extra) > MAX_TEXT_CHARS:
        raise CotError("detail", f"extra_detail is {len(extra)} characters; the limit is {MAX_TEXT_CHARS}")
    root = _xml_root(f"<detail>{extra}</detail>", 4 * MAX_TEXT_CHARS + 64, MAX_DEPTH - 1, "detail")
    parts = _split_detail(root)
    modeled = [k for k, v in parts.items() if k != "extra_detail" and v not in (None, ())]
    if modeled:
        raise CotError("detail", f"extra_detail holds elements that have fields of their own: {modeled}")
    return str(parts["extra_detail"])


# -- writing -----------------------------------------------------------------------

def _esc_attr(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))


escape_attr = _esc_attr


def plain_text(value: object, limit: int) -> bool:
    """True for text that `CotEvent` takes as it is in an attribute: a str of at most
    `limit` characters, every one of which XML can carry."""
    return isinstance(value, str) and len(value) <= limit and not _ILLEGAL_XML.search(value)


def _esc_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


escape_text = _esc_text


def _detail_xml(e: CotEvent) -> str:
    parts = ["<detail>"]
    if e.callsign is not None or e.endpoint is not None:
        attrs = "".join(f' {k}="{_esc_attr(v)}"' for k, v in (("callsign", e.callsign), ("endpoint", e.endpoint))
                        if v is not None)
        parts.append(f"<contact{attrs}/>")
    if e.group_name is not None or e.group_role is not None:
        attrs = "".join(f' {k}="{_esc_attr(v)}"' for k, v in (("name", e.group_name), ("role", e.group_role))
                        if v is not None)
        parts.append(f"<__group{attrs}/>")
    if e.remarks is not None:
        parts.append(f"<remarks>{_esc_text(e.remarks)}</remarks>")
    for k in e.links:
        attrs = f' uid="{_esc_attr(k.uid)}"'
        if k.type:
            attrs += f' type="{_esc_attr(k.type)}"'
        if k.relation:
            attrs += f' relation="{_esc_attr(k.relation)}"'
        parts.append(f"<link{attrs}/>")
    if e.dest_callsigns or e.dest_uids:
        parts.append("<marti>")
        parts.extend(f'<dest callsign="{_esc_attr(c)}"/>' for c in e.dest_callsigns)
        parts.extend(f'<dest uid="{_esc_attr(u)}"/>' for u in e.dest_uids)
        parts.append("</marti>")
    parts.append(e.extra_detail)
    parts.append("</detail>")
    return "".join(parts)


def to_cot_xml(event: CotEvent, *, declaration: bool = True) -> bytes:
    """`CotEvent` → UTF-8 CoT XML, one event, no trailing newline.

    With `declaration` (the default) the bytes start with ``<?xml``: PyTAK's
    receiver, when it expects TAK protobuf, only recognises XML that does.
    """
    e = event
    head = (f'<event version="2.0" uid="{_esc_attr(e.uid)}" type="{e.type}" how="{e.how}" '
            f'time="{_fmt_time(e.time)}" start="{_fmt_time(e.start)}" stale="{_fmt_time(e.stale)}">'
            f'<point lat="{e.lat!r}" lon="{e.lon!r}" hae="{e.hae!r}" ce="{e.ce!r}" le="{e.le!r}"/>')
    body = head + _detail_xml(e) + "</event>"
    out = body.encode("utf-8")
    return XML_DECLARATION + out if declaration else out
