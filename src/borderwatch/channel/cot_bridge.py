"""CoT ↔ borderwatch: field sightings in, tracks and breach alerts out.

Three conversions, each at the edge and each in the scenario's local metres:

- `sightings_to_detections`: ``a-h-G…`` / ``a-u-G…`` events from TAK clients →
  one `Detections` batch (lon/lat → x/y by the `LocalProjection`, ``ce`` →
  ``sigma_m``, the event time → seconds since an epoch you give, the
  reporting callsign → sensor index).
- `estimates_to_cot`: confirmed tracks → one CoT event each, uid
  ``borderwatch-track-<id>``, ``how="m-f"`` (machine, fused).
- `breach_to_cot`: a `Breach` → a CoT alert (type ``b-a-g``, see its docstring).

``ce`` is CoT's "circular 1-sigma error, metres" (CoT 2.0 Event.xsd), which
is what `Detections.position` calls ``sigma_m`` (1σ per axis of a circular
Gaussian). Going out, a track's 2×2 position covariance is reduced to the
circle that covers its worst axis: ce = √λ_max.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from borderwatch.channel.cot import (MAX_ATTR_CHARS, MAX_YEAR, MIN_YEAR, UNKNOWN, XML_DECLARATION, CotEvent,
                                     CotLink, escape_attr, format_time, own_detail, plain_text, to_cot_xml)
from borderwatch.errors import CotError
from borderwatch.geo.projection import LocalProjection
from borderwatch.track.detections import CLASS_NAMES, PERSON, VEHICLE, Detections
from borderwatch.track.detections import UNKNOWN as UNKNOWN_CLASS

SIGHTING_TYPES = ("a-h-G", "a-u-G")      # hostile / unknown ground, and their subtypes
TRACK_UID_PREFIX = "borderwatch-track-"
BREACH_UID_PREFIX = "borderwatch-breach-"
BREACH_TYPE = "b-a-g"                    # ATAK EmergencyType.GeoFenceBreach, "Geo-fence Breached"


def is_sighting(event: CotEvent) -> bool:
    """True for ground objects reported hostile or unknown (``a-h-G``, ``a-u-G-U-C-I``...)."""
    return any(event.type == t or event.type.startswith(t + "-") for t in SIGHTING_TYPES)


def category_of(cot_type: str) -> int:
    """MIL-STD-2525 function in the CoT type → detection class.

    ``…-G-U-C-I…`` (infantry) is a person, ``…-G-E-V…`` (ground vehicle) a
    vehicle, anything else unknown.
    """
    atoms = cot_type.split("-")
    fn = atoms[2:]
    if fn[:4] == ["G", "U", "C", "I"]:
        return PERSON
    if fn[:3] == ["G", "E", "V"]:
        return VEHICLE
    return UNKNOWN_CLASS


def _utc(epoch: datetime) -> datetime:
    if not isinstance(epoch, datetime) or epoch.tzinfo is None:
        raise CotError("epoch", f"must be a timezone-aware datetime, got {epoch!r}")
    return epoch.astimezone(timezone.utc)


def sightings_to_detections(events: Iterable[CotEvent], projection: LocalProjection, *,
                            epoch: datetime, sensors: Mapping[str, int],
                            unknown_ce_sigma_m: float = 100.0, min_sigma_m: float = 1.0) -> Detections:
    """Sighting events → one `Detections` batch, rows in the order given.

    ``sensors`` maps the reporter's callsign (``<contact callsign>``; the
    event uid when there is no callsign) to the tracker's sensor index. An
    event that is not a sighting, or whose reporter is not in ``sensors``,
    is refused with `CotError`, as nothing is half-converted. ``ce`` of
    9999999 (unknown) becomes ``unknown_ce_sigma_m``; a ``ce`` below
    ``min_sigma_m`` is raised to it (a report is never exact).
    """
    events = list(events)
    ep = _utc(epoch)
    if not events:
        return Detections.empty()
    lon = np.empty(len(events))
    lat = np.empty(len(events))
    t = np.empty(len(events))
    sigma = np.empty(len(events))
    sensor = np.empty(len(events), np.int32)
    cat = np.empty(len(events), np.int8)
    for i, e in enumerate(events):
        if not is_sighting(e):
            raise CotError("event@type", f"{e.type} from {e.uid} is not a sighting (a-h-G or a-u-G)")
        who = e.callsign if e.callsign else e.uid
        if who not in sensors:
            raise CotError("detail/contact@callsign", f"{who!r} is not a sensor of this tracker")
        lon[i], lat[i] = e.lon, e.lat
        t[i] = (e.time - ep) / timedelta(seconds=1)
        sigma[i] = unknown_ce_sigma_m if e.ce >= UNKNOWN else max(e.ce, min_sigma_m)
        sensor[i] = int(sensors[who])
        cat[i] = category_of(e.type)
    x, y = projection.to_xy(lon, lat)
    return Detections.position(t, np.atleast_1d(x), np.atleast_1d(y), sigma, sensor, cat)


def circular_error_m(cov_xy: np.ndarray) -> np.ndarray:
    """(n, 2, 2) position covariances → (n,) ce, the 1σ radius of the worst axis: √λ_max."""
    c = np.asarray(cov_xy, float)
    a, b, d = c[:, 0, 0], 0.5 * (c[:, 0, 1] + c[:, 1, 0]), c[:, 1, 1]
    lam = 0.5 * (a + d) + np.sqrt(0.25 * (a - d) ** 2 + b * b)
    return np.sqrt(np.maximum(lam, 0.0))


def _track_columns(estimates, projection: LocalProjection, epoch: datetime, stale_s: float,
                   confirmed_only: bool) -> tuple | None:
    """What `estimates_to_cot` and `estimates_to_cot_xml` write, as columns (Python floats):
    (ids, lat, lon, ce, speed, course, category, time, stale), or None without tracks."""
    ep = _utc(epoch)
    if not stale_s > 0:
        raise CotError("event@stale", f"stale_s must be > 0 seconds, got {stale_s}")
    sel = np.asarray(estimates.confirmed, bool) if confirmed_only else np.ones(len(estimates), bool)
    ids = np.asarray(estimates.id)[sel]
    if len(ids) == 0:
        return None
    state = np.asarray(estimates.state, float)[sel]
    cov = np.asarray(estimates.cov, float)[sel][:, :2, :2]
    category = np.asarray(estimates.category)[sel]
    lon, lat = projection.to_lonlat(state[:, 0], state[:, 1])
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    ce = circular_error_m(cov)
    vx, vy = state[:, 2], state[:, 3]
    speed = np.hypot(vx, vy)
    course = np.degrees(np.arctan2(vx, vy)) % 360.0
    when = ep + timedelta(seconds=float(estimates.t))
    stale = when + timedelta(seconds=float(stale_s))
    return (ids.tolist(), lat.tolist(), lon.tolist(), ce.tolist(), speed.tolist(), course.tolist(),
            category.tolist(), when, stale)


def _track_type(base: str, cat: int) -> str:
    return base + {PERSON: "-U-C-I", VEHICLE: "-E-V"}.get(cat, "")


def _track_remarks(tid: int, cat: int, speed: float, ce: float) -> str:
    return f"borderwatch track {tid}: {CLASS_NAMES.get(cat, 'unknown')}, {speed:.1f} m/s, 1-sigma {ce:.0f} m"


def estimates_to_cot(estimates, projection: LocalProjection, *, epoch: datetime, hostile: bool = True,
                     stale_s: float = 60.0, confirmed_only: bool = True,
                     callsign_prefix: str = "Track ") -> list[CotEvent]:
    """Tracker `Estimates` → one CoT event per track, in id order.

    Type ``a-h-G`` (``hostile=True``) or ``a-u-G``; time and start are the
    estimates' time after ``epoch``, stale ``stale_s`` later; a
    ``<track course speed>`` element (degrees from grid north, m/s) carries
    the velocity. The local projection's grid north is taken as true north.
    """
    cols = _track_columns(estimates, projection, epoch, stale_s, confirmed_only)
    if cols is None:
        return []
    ids, lat, lon, ce, speed, course, category, when, stale = cols
    base = "a-h-G" if hostile else "a-u-G"
    out = []
    for k, tid in enumerate(ids):
        cat = int(category[k])
        out.append(CotEvent(
            uid=f"{TRACK_UID_PREFIX}{tid}", type=_track_type(base, cat), how="m-f", time=when, start=when,
            stale=stale, lat=lat[k], lon=lon[k], ce=ce[k], callsign=f"{callsign_prefix}{tid}",
            remarks=_track_remarks(tid, cat, speed[k], ce[k]),
            extra_detail=own_detail(f'<track course="{course[k]!r}" speed="{speed[k]!r}"/>')))
    return out


@dataclass(frozen=True)
class EncodedTracks:
    """Tracks already written as CoT XML (what the TAK server sends out), in id order."""

    ids: list[int]
    uids: list[str]
    data: list[bytes]              # each exactly `to_cot_xml(event)` of `estimates_to_cot`'s event
    stale: datetime | None         # shared: the estimates have one time

    def __len__(self) -> int:
        return len(self.ids)


def estimates_to_cot_xml(estimates, projection: LocalProjection, *, epoch: datetime, hostile: bool = True,
                         stale_s: float = 60.0, confirmed_only: bool = True,
                         callsign_prefix: str = "Track ") -> EncodedTracks:
    """`estimates_to_cot` then `to_cot_xml` of each event, byte for byte, without making the
    events: a `CotEvent` and its checks cost ~10 µs a track, and a server that keeps every
    track of 13,000 people in its picture writes thousands of them a scan. The checks are
    made on the columns instead (every value finite and in range, the callsign prefix plain);
    anything they would not pass goes through the events, which refuse it as they always did.
    """
    cols = _track_columns(estimates, projection, epoch, stale_s, confirmed_only)
    if cols is None:
        return EncodedTracks([], [], [], None)
    ids, lat, lon, ce, speed, course, category, when, stale = cols
    lat_a, lon_a, ce_a = np.asarray(lat), np.asarray(lon), np.asarray(ce)
    plain = (bool(np.all(np.abs(lat_a) <= 90.0)) and bool(np.all(np.abs(lon_a) <= 180.0))
             and bool(np.all((ce_a >= 0.0) & (ce_a <= UNKNOWN)))
             and all(math.isfinite(v) for v in speed) and all(math.isfinite(v) for v in course)
             # the prefix and an id of up to 20 characters (-2**63) within the attribute limit
             and plain_text(callsign_prefix, MAX_ATTR_CHARS - 20) and MIN_YEAR <= when.year
             and stale.year <= MAX_YEAR)
    if not plain:
        events = estimates_to_cot(estimates, projection, epoch=epoch, hostile=hostile, stale_s=stale_s,
                                  confirmed_only=confirmed_only, callsign_prefix=callsign_prefix)
        return EncodedTracks(ids, [e.uid for e in events], [to_cot_xml(e) for e in events], stale)
    base = "a-h-G" if hostile else "a-u-G"
    t, st = format_time(when), format_time(stale)
    times = f'how="m-f" time="{t}" start="{t}" stale="{st}"><point lat="'
    prefix = escape_attr(callsign_prefix)
    head = XML_DECLARATION + b'<event version="2.0" uid="'
    uids = [f"{TRACK_UID_PREFIX}{tid}" for tid in ids]
    data = []
    for k, tid in enumerate(ids):
        cat = category[k]
        data.append(head + (
            f'{uids[k]}" type="{_track_type(base, cat)}" {times}{lat[k]!r}" lon="{lon[k]!r}" '
            f'hae="9999999.0" ce="{ce[k]!r}" le="9999999.0"/><detail><contact callsign="{prefix}{tid}"/>'
            f'<remarks>{_track_remarks(tid, cat, speed[k], ce[k])}</remarks>'
            f'<track course="{course[k]!r}" speed="{speed[k]!r}"/></detail></event>').encode("utf-8"))
    return EncodedTracks(ids, uids, data, stale)


def breach_to_cot(breach, *, epoch: datetime, stale_s: float = 600.0, uid: str | None = None,
                  cot_type: str = BREACH_TYPE, sender_callsign: str = "borderwatch") -> CotEvent:
    """A `Breach` → a CoT alert at the crossing point.

    Why ``b-a-g``: it is the type ATAK itself sends for a "Geo-fence Breached"
    emergency (``EmergencyType.GeoFenceBreach``; the other emergency types are
    ``b-a-o-tbl`` 911, ``b-a-o-pan`` ring the bell, ``b-a-o-opn`` in contact,
    ``b-a-o-can`` cancel). A border crossing is a geofence breach, and TAK
    clients raise emergency types as alerts (banner, sound, alert list) where a
    ``b-m-p-s-p-loc`` marker would only sit on the map among others. 911 would
    claim a friendly unit in distress, which a breach is not. The detail
    follows ATAK's emergency shape: ``<emergency type="Geo-fence Breached">``
    with the sender as its text, a ``p-p`` link to the track's CoT uid, and
    remarks naming chainage, sector, confidence, sensors and how. Pass
    ``cot_type="b-m-p-s-p-loc"`` for a plain marker where alerts are unwanted.
    """
    ep = _utc(epoch)
    when = ep + timedelta(seconds=float(breach.t))
    sensors = ", ".join(breach.sensors) if breach.sensors else "none"
    remarks = (f"BORDER BREACH track {breach.track_id} {breach.how} at km {breach.chainage_km:.3f}, "
               f"sector {breach.sector}, confidence {breach.confidence:.0%}, sensors: {sensors}")
    extra = ""
    if cot_type.startswith("b-a-"):
        esc = sender_callsign.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        extra = f'<emergency type="Geo-fence Breached">{esc}</emergency>'
    return CotEvent(
        uid=uid or f"{BREACH_UID_PREFIX}{breach.track_id}-{int(round(breach.t * 1000))}",
        type=cot_type, how="m-f", time=when, start=when, stale=when + timedelta(seconds=float(stale_s)),
        lat=float(breach.lat), lon=float(breach.lon), callsign=f"Breach km {breach.chainage_km:.1f}",
        remarks=remarks, links=(CotLink(f"{TRACK_UID_PREFIX}{breach.track_id}", "a-h-G", "p-p"),),
        extra_detail=extra)
