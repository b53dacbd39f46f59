"""`load_scenario`: one call from a name or a path to a validated `Scenario`.

A scenario is a TOML file plus the GeoJSON border it names and, optionally,
a GeoTIFF DEM. Every problem is raised as a `ScenarioError` naming the file,
the field path and the reason; nothing half-loaded is ever returned.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from borderwatch.errors import ScenarioError
from borderwatch.scenario.border_file import read_border_lonlat
from borderwatch.scenario.dem_check import check_dem
from borderwatch.scenario.fields import Fields
from borderwatch.scenario.water_file import read_water
from borderwatch.scenario.model import (
    Aircraft, AirCover, Assets, BorderSpec, Patrols, Crossing, LonLat, Party, Scenario, TerrainSpec,
    ThreatSource, TroopUnit, Watchtowers, frozen_mapping,
)

ROLES = ("owner", "neighbour", "local-force", "coalition", "observer")
SIDES = ("left", "right")


def bundled_names() -> list[str]:
    """Names of the scenarios shipped inside the package."""
    root = resources.files("borderwatch") / "data"
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / f"{p.name}.toml").is_file())


def resolve(name_or_path: str | Path) -> Path:
    """Turn a bundled name, a directory or a .toml path into the TOML file path."""
    raw = str(name_or_path)
    path = Path(raw).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        tomls = sorted(path.glob("*.toml"))
        if len(tomls) == 1:
            return tomls[0].resolve()
        reason = "holds no .toml scenario file" if not tomls else "holds several .toml files; name one"
        raise ScenarioError(raw, "", reason)
    if "/" not in raw and not raw.endswith(".toml"):
        bundled = Path(str(resources.files("borderwatch") / "data" / raw / f"{raw}.toml"))
        if bundled.is_file():
            return bundled
        known = ", ".join(bundled_names())
        raise ScenarioError(raw, "", f"no such scenario file, and not a bundled scenario (bundled: {known})")
    raise ScenarioError(raw, "", "no such file")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario: a bundled name (``"iraq-syria"``) or a path."""
    path = resolve(name_or_path)
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(name, "", f"not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(name, "", f"cannot read: {exc}") from None
    root = Fields(name, data)
    return _scenario(root, path)


def _scenario(root: Fields, path: Path) -> Scenario:
    head = root.table("scenario")
    scen_name = head.str("name")
    title = head.str("title", scen_name)
    citation = head.str("citation", "")
    crs_text = head.str("crs", "auto")
    head.done()

    border = _border(root.table("border"), path)
    crs = _crs(head, crs_text, border.lonlat)

    parties = _parties(root)
    party_ids = {p.id for p in parties}
    terrain = _terrain(root, path, border.lonlat)
    sources = tuple(_threat_source(f) for f in root.tables("threat_sources"))
    crossings = tuple(_crossing(f) for f in root.tables("crossings", required=False))
    assets = _assets(root.table("assets"), party_ids)
    releasability = _releasability(root.table("releasability"), party_ids)
    root.done()
    return Scenario(
        name=scen_name, title=title, path=path, crs=crs, citation=citation, border=border,
        terrain=terrain, threat_sources=sources, parties=parties, crossings=crossings,
        assets=assets, releasability=releasability,
    )


def _crs(head: Fields, text: str, lonlat: np.ndarray) -> str:
    """The local metric projection: as given, or a transverse Mercator on the border."""
    if text == "auto":
        lon0 = round(float((lonlat[:, 0].min() + lonlat[:, 0].max()) / 2), 4)
        lat0 = round(float((lonlat[:, 1].min() + lonlat[:, 1].max()) / 2), 4)
        return (f"+proj=tmerc +lat_0={lat0} +lon_0={lon0} +k=1 +x_0=0 +y_0=0 "
                "+ellps=WGS84 +units=m +no_defs")
    try:
        crs = CRS.from_user_input(text)
    except CRSError as exc:
        raise head.error("crs", f"not a CRS pyproj understands ({exc})") from None
    if not crs.is_projected:
        raise head.error("crs", f"must be a projected CRS in metres, got {crs.name}")
    return text


def _border(f: Fields, toml_path: Path) -> BorderSpec:
    file = f.str("file")
    geo_path = (toml_path.parent / file).resolve()
    if not geo_path.is_file():
        raise f.error("file", f"file not found: {file}")
    lonlat = read_border_lonlat(geo_path, f.where("file"))
    own = f.str("own")
    foreign = f.str("foreign")
    side = f.str("own_side", choices=SIDES)
    sector_km = f.num("sector_km", 25.0, gt=0.0)
    citation = f.str("citation", "")
    f.done()
    if lonlat[0, 1] < lonlat[-1, 1]:
        # Keep the north end first (chainage runs from it); walking the other
        # way swaps left and right.
        lonlat = np.ascontiguousarray(lonlat[::-1])
        lonlat.setflags(write=False)
        side = "right" if side == "left" else "left"
    return BorderSpec(file=geo_path, lonlat=lonlat, own=own, foreign=foreign, own_side=side,
                      sector_km=sector_km, citation=citation)


def _terrain(root: Fields, toml_path: Path, lonlat: np.ndarray) -> TerrainSpec | None:
    if not root.has("terrain"):
        root.table("terrain", None)
        return None
    f = root.table("terrain")
    dem_text = f.str("dem")
    declared = f.bool("synthetic", False)
    water_text = f.str("water", None)
    f.done()
    dem = (toml_path.parent / dem_text).resolve()
    tagged, holes = check_dem(root.file, f.where("dem"), dem, lonlat)
    water = None
    if water_text is not None:
        water_path = (toml_path.parent / water_text).resolve()
        if not water_path.is_file():
            raise f.error("water", f"file not found: {water_text}")
        water = read_water(water_path)
    return TerrainSpec(dem=dem, synthetic=declared or tagged, water=water, border_nodata_km=holes)


def _lonlat(f: Fields, lon: str = "lon", lat: str = "lat") -> LonLat:
    return LonLat(f.lon(lon), f.lat(lat))


def _threat_source(f: Fields) -> ThreatSource:
    src = ThreatSource(
        name=f.str("name"), location=_lonlat(f), headcount=f.int("headcount", gt=0),
        kind=f.str("kind", "other"), citation=f.str("citation"),
    )
    f.done()
    return src


def _crossing(f: Fields) -> Crossing:
    c = Crossing(name=f.str("name"), location=_lonlat(f), citation=f.str("citation", ""))
    f.done()
    return c


def _parties(root: Fields) -> tuple[Party, ...]:
    parties = []
    seen: set[str] = set()
    for f in root.tables("parties"):
        pid = f.str("id")
        if pid in seen:
            raise f.error("id", f'duplicate party id "{pid}"')
        seen.add(pid)
        parties.append(Party(id=pid, name=f.str("name"), role=f.str("role", choices=ROLES)))
        f.done()
    owners = [p for p in parties if p.role == "owner"]
    if len(owners) != 1:
        raise root.error("parties", f'exactly one party must have role "owner", found {len(owners)}')
    return tuple(parties)


def _party_ref(f: Fields, key: str, party_ids: set[str]) -> str:
    pid = f.str(key)
    if pid not in party_ids:
        raise f.error(key, f'unknown party "{pid}" (known: {", ".join(sorted(party_ids))})')
    return pid


def _assets(f: Fields, party_ids: set[str]) -> Assets:
    note = f.str("note", "")
    t = f.table("watchtowers")
    towers = Watchtowers(
        budget=t.int("budget", ge=0),
        sensor_range_km=t.num("sensor_range_km", gt=0.0),
        mast_height_m=t.num("mast_height_m", ge=0.0),
        target_height_m=t.num("target_height_m", 1.8, ge=0.0),
        detection_probability=t.num("detection_probability", 0.6, ge=0.0, le=1.0),
    )
    t.done()
    patrols = None
    if f.has("patrols"):
        p = f.table("patrols")
        patrols = Patrols(units=p.int("units", ge=0), stretch_km=p.num("stretch_km", gt=0.0),
                          catch_probability=p.num("catch_probability", gt=0.0, le=1.0))
        p.done()
    air = None
    if f.has("air"):
        a = f.table("air")
        air = AirCover(orbits=a.int("orbits", ge=0),
                       detection_probability=a.num("detection_probability", 0.5, ge=0.0, le=1.0))
        a.done()
    units = []
    for u in f.tables("troop_units", required=False):
        units.append(TroopUnit(
            id=u.str("id"), name=u.str("name"), party=_party_ref(u, "party", party_ids),
            strength=u.int("strength", gt=0), patrol_reach_km=u.num("patrol_reach_km", gt=0.0),
            base=_lonlat(u, "base_lon", "base_lat"),
        ))
        u.done()
    aircraft = []
    for a in f.tables("aircraft", required=False):
        aircraft.append(Aircraft(
            id=a.str("id"), name=a.str("name"), party=_party_ref(a, "party", party_ids),
            count=a.int("count", 1, gt=0), endurance_h=a.num("endurance_h", gt=0.0),
            cruise_speed_kmh=a.num("cruise_speed_kmh", gt=0.0),
            sensor_swath_km=a.num("sensor_swath_km", gt=0.0),
            turnaround_h=a.num("turnaround_h", ge=0.0), base_name=a.str("base_name", "base"),
            base=_lonlat(a, "base_lon", "base_lat"),
        ))
        a.done()
    f.done()
    return Assets(watchtowers=towers, troop_units=tuple(units), aircraft=tuple(aircraft), note=note,
                  patrols=patrols, air=air)


def _releasability(f: Fields, party_ids: set[str]) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for kind in list(f.data):
        ids = f.str_list(kind)
        for i, pid in enumerate(ids):
            if pid not in party_ids:
                raise ScenarioError(f.file, f"{f.where(kind)}[{i}]",
                                    f'unknown party "{pid}" (known: {", ".join(sorted(party_ids))})')
        table[kind] = tuple(ids)
    f.done()
    return frozen_mapping(table)
