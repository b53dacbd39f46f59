"""Plain sightings read straight into columns: the TAK server's hot path in.

Why: a field unit's sweep of 100 sightings became 100 `CotEvent`s, each checked
as it was built, then written back to XML one by one to be relayed and stored,
and read once more into `Detections`: about 35 µs of the server's CPU a
sighting. A sweep's sightings share one plain shape, what `borderwatch replay`
and simple clients send for a hostile or unknown ground object: the event's
attributes, a ``<point>`` and a ``<detail>`` holding at most a contact callsign
and remarks (ATAK's other detail elements and PyTAK's ``_flow-tags_`` are kept
verbatim by the general path, which reads those reads). Reads of eight or more
such events are read here into columns, with every check `parse_cot` and
`CotEvent` make, and
written out in `to_cot_xml`'s canonical form; a batch holding anything else
(another shape, another type, a zone other than Z, any doubt at all) returns
None and goes the general way, which answers every event and every refusal
exactly as before. The tests hold the two ways to the same results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

import numpy as np
from lxml import etree

from ..errors import CotError
from ..geo.projection import LocalProjection
from ..track.detections import Detections
from .cot import (_NUM, _TYPE, _UID, MAX_BYTES, MAX_DEPTH, MAX_TEXT_CHARS, MAX_YEAR, MIN_YEAR, UNKNOWN,
                  CotEvent, batch_root, escape_attr, escape_text, format_time, parse_time)
from .cot_bridge import SIGHTING_TYPES, _utc, category_of

_UTC = timezone.utc
MIN_BATCH = 8
"""Fewer events than this in a read go the general way: the column path's dozen XPath
passes cost more than they save on a handful (1 event: 53 µs against 32; 4: even; 8: 19
against 23; 64: 15 against 22 µs an event). A unit reporting now and then sends one at a time."""


@dataclass
class Sightings:
    """Sighting events as columns, in the order received; `xml[k]` and `text[k]` are event k as
    `to_cot_xml(event, declaration=False)` writes it (bytes to relay, text to store)."""

    uid: list[str]
    type: list[str]
    how: list[str]
    time: list[datetime]
    start: list[datetime]
    stale: list[datetime]
    lat: list[float]
    lon: list[float]
    hae: list[float]
    ce: list[float]
    le: list[float]
    callsign: list[str | None]
    remarks: list[str | None]
    text: list[str]
    xml: list[bytes]

    def __len__(self) -> int:
        return len(self.uid)

    @classmethod
    def concat(cls, parts: list["Sightings"]) -> "Sightings":
        """One `Sightings` of all of `parts`, in order (a tracker step takes many reads at once)."""
        if len(parts) == 1:
            return parts[0]
        return cls(*([v for p in parts for v in getattr(p, f.name)] for f in fields(cls)))

    def events(self) -> list[CotEvent]:
        """The `CotEvent`s these columns stand for (what `parse_cot` returns for each)."""
        return [CotEvent(uid=self.uid[k], type=self.type[k], how=self.how[k], time=self.time[k],
                         start=self.start[k], stale=self.stale[k], lat=self.lat[k], lon=self.lon[k],
                         hae=self.hae[k], ce=self.ce[k], le=self.le[k], callsign=self.callsign[k],
                         remarks=self.remarks[k]) for k in range(len(self))]


# The shape, checked over the whole batch at once: each child an <event>, holding one
# <point> and at most one <detail> and nothing else; a detail holds at most one <contact>
# (a callsign, no endpoint) and one <remarks> (text only); a version, if any, is 2.0.
# What `parse_cot` ignores (other attributes, a contact's or a point's children, a detail's
# attributes or text) is ignored here too: it is not in the canonical form either.
_SHAPE = etree.XPath(
    "count(event) = count(*) and count(event/point) = count(event[point]) and count(event[point]) = count(event)"
    " and count(event/detail) = count(event[detail])"
    " and count(event/*) = count(event/point) + count(event/detail)"
    " and count(event/detail/*) = count(event/detail/contact) + count(event/detail/remarks)"
    " and count(event/detail/contact) = count(event/detail[contact])"
    " and count(event/detail/remarks) = count(event/detail[remarks])"
    " and not(event/detail/contact/@endpoint) and not(event/detail/remarks/@*) and not(event/detail/remarks/*)"
    " and count(event/@version) = count(event[@version = '2.0'])")
_COLUMNS = tuple(etree.XPath(path, smart_strings=False) for path in (
    "event/@uid", "event/@type", "event/@how", "event/@time", "event/@start", "event/@stale",
    "event/point/@lat", "event/point/@lon", "event/point/@hae", "event/point/@ce", "event/point/@le",
    "event/detail/contact/@callsign"))
_REMARKS = etree.XPath("event/detail/remarks")
# A whole column checked by one match: the values joined by newlines, which none may hold.
_UIDS = re.compile(rf"(?:{_UID.pattern}\n)*{_UID.pattern}", re.ASCII)
_TYPES = re.compile(rf"(?:{_TYPE.pattern}\n)*{_TYPE.pattern}", re.ASCII)
_SIGHTINGS = re.compile("(?:(?:" + "|".join(re.escape(t) for t in SIGHTING_TYPES) + r")(?:-[^\n]*)?\n)*"
                        "(?:" + "|".join(re.escape(t) for t in SIGHTING_TYPES) + r")(?:-[^\n]*)?")
_NUMS = re.compile(rf"(?:{_NUM.pattern}\n)*{_NUM.pattern}")


def read_sightings(payloads: list[bytes], *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
                   min_batch: int = MIN_BATCH) -> Sightings | None:
    """`payloads` (one CoT event each, as the stream splitter cuts them) → `Sightings`, when there
    are at least `min_batch` and every one is a plain, valid sighting; else None (read them with
    `parse_cot_many`)."""
    if len(payloads) < max(min_batch, 1):
        return None
    root = batch_root(payloads, max_bytes, max_depth)
    if root is None or not _SHAPE(root):
        return None
    n = len(root)
    uid, typ, how, tt, ts, tl, la, lo, ha, ce, le, calls = (f(root) for f in _COLUMNS)
    if not all(len(c) == n for c in (uid, typ, how, tt, ts, tl, la, lo, ha, ce, le)) or len(calls) not in (0, n):
        return None                        # an attribute missing somewhere, or callsigns on some only
    rem_els = _REMARKS(root)
    if len(rem_els) not in (0, n):
        return None
    j = "\n".join
    types = j(typ)
    if (not _UIDS.fullmatch(j(uid)) or not _TYPES.fullmatch(types) or not _SIGHTINGS.fullmatch(types)
            or not _TYPES.fullmatch(j(how)) or max(map(len, typ)) > 96 or max(map(len, how)) > 96
            or not all(_NUMS.fullmatch(j(c)) for c in (la, lo, ha, ce, le))):
        return None
    lat, lon, hae, cev, lev = (list(map(float, c)) for c in (la, lo, ha, ce, le))
    if (min(lat) < -90.0 or max(lat) > 90.0 or min(lon) < -180.0 or max(lon) > 180.0
            or min(hae) < -UNKNOWN or max(hae) > UNKNOWN or min(cev) < 0.0 or max(cev) > UNKNOWN
            or min(lev) < 0.0 or max(lev) > UNKNOWN):
        return None
    texts = {}
    for v in (*set(tt), *set(ts), *set(tl)):   # a sweep shares its times: each read once
        try:
            d = parse_time(v)
        except CotError:
            return None
        if d.tzinfo is not _UTC or not MIN_YEAR <= d.year <= MAX_YEAR:
            return None
        texts[v] = (d, format_time(d))
    time_, start, stale = ([texts[v][0] for v in c] for c in (tt, ts, tl))
    if any(b < a for a, b in zip(start, stale)):
        return None
    remarks: list[str | None] = [r.text or "" for r in rem_els] if rem_els else [None] * n
    if rem_els and max(map(len, remarks)) > MAX_TEXT_CHARS:
        return None
    callsign: list[str | None] = calls if calls else [None] * n
    text = []
    for k in range(n):
        cs, rm = callsign[k], remarks[k]
        text.append(f'<event version="2.0" uid="{escape_attr(uid[k])}" type="{typ[k]}" how="{how[k]}" '
                    f'time="{texts[tt[k]][1]}" start="{texts[ts[k]][1]}" stale="{texts[tl[k]][1]}">'
                    f'<point lat="{lat[k]!r}" lon="{lon[k]!r}" hae="{hae[k]!r}" ce="{cev[k]!r}" le="{lev[k]!r}"/>'
                    '<detail>' + (f'<contact callsign="{escape_attr(cs)}"/>' if cs is not None else "")
                    + (f"<remarks>{escape_text(rm)}</remarks>" if rm is not None else "") + "</detail></event>")
    return Sightings(uid, typ, how, time_, start, stale, lat, lon, hae, cev, lev, callsign, remarks, text,
                     [x.encode("utf-8") for x in text])


def to_detections(s: Sightings, projection: LocalProjection, *, epoch: datetime, sensors: Mapping[str, int],
                  unknown_ce_sigma_m: float = 100.0, min_sigma_m: float = 1.0) -> Detections:
    """`sightings_to_detections` of `s.events()`, value for value, from the columns: a sweep's
    reports share their time and type, so each distinct one is worked out once."""
    ep = _utc(epoch)
    if not len(s):
        return Detections.empty()
    one = timedelta(seconds=1)
    seconds: dict[datetime, float] = {}
    cats: dict[str, int] = {}
    t = np.empty(len(s))
    cat = np.empty(len(s), np.int8)
    sensor = np.empty(len(s), np.int32)
    for k in range(len(s)):
        tm, ty = s.time[k], s.type[k]
        v = seconds.get(tm)
        if v is None:
            v = seconds[tm] = (tm - ep) / one
        t[k] = v
        c = cats.get(ty)
        if c is None:
            c = cats[ty] = category_of(ty)
        cat[k] = c
        who = s.callsign[k] or s.uid[k]
        if who not in sensors:
            raise CotError("detail/contact@callsign", f"{who!r} is not a sensor of this tracker")
        sensor[k] = int(sensors[who])
    ce = np.asarray(s.ce, float)
    sigma = np.where(ce >= UNKNOWN, unknown_ce_sigma_m, np.maximum(ce, min_sigma_m))
    x, y = projection.to_xy(np.asarray(s.lon, float), np.asarray(s.lat, float))
    return Detections.position(t, np.atleast_1d(x), np.atleast_1d(y), sigma, sensor, cat)
