"""The typed, immutable records a scenario file is read into.

Coordinates here are WGS84 longitude/latitude exactly as the file gives
them; the geo layer converts once into the scenario's local metric
projection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import numpy as np
import shapely


@dataclass(frozen=True, slots=True)
class LonLat:
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class ThreatSource:
    """A place people who may try to cross are held or gathered."""

    name: str
    location: LonLat
    headcount: int
    kind: str
    citation: str


@dataclass(frozen=True, slots=True)
class Party:
    """A member of the coordination channel."""

    id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Crossing:
    """An official border crossing point."""

    name: str
    location: LonLat
    citation: str


@dataclass(frozen=True, slots=True)
class TroopUnit:
    id: str
    name: str
    party: str
    strength: int
    patrol_reach_km: float
    base: LonLat


@dataclass(frozen=True, slots=True)
class Aircraft:
    """A type of surveillance aircraft and how many of it are available."""

    id: str
    name: str
    party: str
    count: int
    endurance_h: float
    cruise_speed_kmh: float
    sensor_swath_km: float
    turnaround_h: float
    base_name: str
    base: LonLat


@dataclass(frozen=True, slots=True)
class Watchtowers:
    budget: int
    sensor_range_km: float
    mast_height_m: float
    target_height_m: float
    detection_probability: float = 0.6   # a crossing in a tower's view is detected


@dataclass(frozen=True, slots=True)
class Patrols:
    """What the troops field per shift, as the patrol game sees it."""

    units: int                  # patrols out at any one time
    stretch_km: float           # contiguous stretch one patrol covers in a shift
    catch_probability: float    # a crossing where a patrol is, is caught


@dataclass(frozen=True, slots=True)
class AirCover:
    orbits: int                 # continuous 24-hour orbits wanted
    detection_probability: float = 0.5


@dataclass(frozen=True, slots=True)
class Assets:
    watchtowers: Watchtowers
    troop_units: tuple[TroopUnit, ...]
    aircraft: tuple[Aircraft, ...]
    note: str = ""
    patrols: Patrols | None = None
    air: AirCover | None = None


@dataclass(frozen=True, slots=True)
class BorderSpec:
    """The border as the file declares it: vertices north end first."""

    file: Path
    lonlat: np.ndarray = field(repr=False)  # (n, 2) float64, read-only
    own: str
    foreign: str
    own_side: str  # "left" or "right", walking north to south
    sector_km: float
    citation: str


@dataclass(frozen=True, slots=True)
class TerrainSpec:
    dem: Path
    synthetic: bool
    water: "shapely.MultiPolygon | None" = None  # lon/lat; towers never stand in it
    # Stretches of the border (km from the north end) over DEM no-data: they
    # block line of sight, and plans report them.
    border_nodata_km: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything a scenario file says, validated. Load with `load_scenario`."""

    name: str
    title: str
    path: Path
    crs: str
    citation: str
    border: BorderSpec
    terrain: TerrainSpec
    threat_sources: tuple[ThreatSource, ...]
    parties: tuple[Party, ...]
    crossings: tuple[Crossing, ...]
    assets: Assets
    releasability: Mapping[str, tuple[str, ...]]

    @property
    def headcount(self) -> int:
        """Total people across all threat sources."""
        return sum(s.headcount for s in self.threat_sources)

    @property
    def owner(self) -> Party:
        return next(p for p in self.parties if p.role == "owner")

    def party(self, party_id: str) -> Party:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise KeyError(party_id)

    def released_to(self, kind: str) -> tuple[str, ...]:
        """Party ids that may receive a message of `kind` (the owner always may)."""
        ids = self.releasability.get(kind, ())
        owner = self.owner.id
        return ids if owner in ids else (owner, *ids)


def frozen_mapping(d: dict) -> Mapping:
    return MappingProxyType(dict(d))
