"""What `borderwatch scenario show` prints, computed as plain data.

Kept out of the CLI so the same facts feed the web map and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from borderwatch.geo import Border, Terrain
from borderwatch.scenario.model import Scenario


@dataclass(frozen=True, slots=True)
class SourceFact:
    name: str
    kind: str
    headcount: int
    distance_km: float      # straight-line distance to the border
    chainage_km: float      # where on the border it is nearest
    side: str               # "own" / "foreign"


@dataclass(frozen=True, slots=True)
class CrossingFact:
    name: str
    chainage_km: float
    offset_km: float        # distance of the given point from the line


@dataclass(frozen=True, slots=True)
class TerrainFact:
    label: str
    synthetic: bool
    resolution_m: float
    shape: tuple[int, int]
    border_min_m: float
    border_max_m: float


@dataclass(frozen=True, slots=True)
class ScenarioSummary:
    scenario: Scenario
    length_km: float            # geodesic, WGS84
    local_length_km: float      # in the scenario's projection
    sectors: int
    sector_km: float
    north_end: tuple[float, float]
    south_end: tuple[float, float]
    sources: tuple[SourceFact, ...]
    crossings: tuple[CrossingFact, ...]
    terrain: TerrainFact | None


def summarize(scenario: Scenario, border: Border | None = None,
              terrain: Terrain | None = None) -> ScenarioSummary:
    """Measure a scenario: border length and sectors, where sources and crossings lie."""
    border = border or Border.from_scenario(scenario)
    src = scenario.threat_sources
    loc = border.locate_lonlat([s.location.lon for s in src], [s.location.lat for s in src])
    sources = tuple(
        SourceFact(s.name, s.kind, s.headcount, abs(float(d)) / 1000.0, float(c),
                   "own" if d > 0 else "foreign")
        for s, c, d in zip(src, loc.chainage_km, loc.signed_distance_m)
    )
    crossings: tuple[CrossingFact, ...] = ()
    if scenario.crossings:
        cl = border.locate_lonlat([c.location.lon for c in scenario.crossings],
                                  [c.location.lat for c in scenario.crossings])
        crossings = tuple(CrossingFact(c.name, float(k), abs(float(d)) / 1000.0)
                          for c, k, d in zip(scenario.crossings, cl.chainage_km, cl.signed_distance_m))
    terrain_fact = None
    if terrain is None and scenario.terrain is not None:
        terrain = Terrain.from_scenario(scenario)
    if terrain is not None:
        x, y = border.point_at(np.linspace(0.0, border.length_km, 2000))
        z = terrain.sample(x, y)
        terrain_fact = TerrainFact(terrain.label, terrain.synthetic, terrain.resolution_m[0],
                                   terrain.shape, float(np.nanmin(z)), float(np.nanmax(z)))
    lonlat = scenario.border.lonlat
    return ScenarioSummary(
        scenario=scenario, length_km=border.geodesic_length_km, local_length_km=border.length_km,
        sectors=len(border.sectors), sector_km=border.sectors.length_km,
        north_end=(float(lonlat[0, 0]), float(lonlat[0, 1])),
        south_end=(float(lonlat[-1, 0]), float(lonlat[-1, 1])),
        sources=sources, crossings=crossings, terrain=terrain_fact,
    )
