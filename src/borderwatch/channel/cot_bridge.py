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
from datetime import datetime, timedelta, timezone

import numpy as np

from borderwatch.channel.cot import UNKNOWN, CotEvent, CotLink, own_detail
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


def estimates_to_cot(estimates, projection: LocalProjection, *, epoch: datetime, hostile: bool = True,
                     stale_s: float = 60.0, confirmed_only: bool = True,
                     callsign_prefix: str = "Track ") -> list[CotEvent]:
    """Tracker `Estimates` → one CoT event per track, in id order.

    Type ``a-h-G`` (``hostile=True``) or ``a-u-G``; time and start are the
    estimates' time after ``epoch``, stale ``stale_s`` later; a
    ``<track course speed>`` element (degrees from grid north, m/s) carries
    the velocity. The local projection's grid north is taken as true north.
    """
    ep = _utc(epoch)
    if not stale_s > 0:
        raise CotError("event@stale", f"stale_s must be > 0 seconds, got {stale_s}")
    sel = np.asarray(estimates.confirmed, bool) if confirmed_only else np.ones(len(estimates), bool)
    ids = np.asarray(estimates.id)[sel]
    if len(ids) == 0:
        return []
    state = np.asarray(estimates.state, float)[sel]
    cov = np.asarray(estimates.cov, float)[sel][:, :2, :2]
    category = np.asarray(estimates.category)[sel]
    lon, lat = projection.to_lonlat(state[:, 0], state[:, 1])
    lon, lat = np.atleast_1d(lon), np.atleast_1d(lat)
    ce = circular_error_m(cov)
    when = ep + timedelta(seconds=float(estimates.t))
    stale = when + timedelta(seconds=float(stale_s))
    base = "a-h-G" if hostile else "a-u-G"
    out = []
    for k, tid in enumerate(ids):
        vx, vy = state[k, 2], state[k, 3]
        speed = math.hypot(vx, vy)
        course = math.degrees(math.atan2(vx, vy)) % 360.0
        cat = int(category[k])
        typ = base + {PERSON: "-U-C-I", VEHICLE: "-E-V"}.get(cat, "")
        out.append(CotEvent(
            uid=f"{TRACK_UID_PREFIX}{int(tid)}", type=typ, how="m-f", time=when, start=when, stale=stale,
            lat=float(lat[k]), lon=float(lon[k]), ce=float(ce[k]),
            callsign=f"{callsign_prefix}{int(tid)}",
            remarks=f"borderwatch track {int(tid)}: {CLASS_NAMES.get(cat, 'unknown')}, "
                    f"{speed:.1f} m/s, 1-sigma {ce[k]:.0f} m",
            extra_detail=own_detail(f'<track course="{course!r}" speed="{speed!r}"/>')))
    return out


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
