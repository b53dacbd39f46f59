"""Reading and validating scenario files (TOML + GeoJSON + optional DEM)."""

from borderwatch.scenario.load import bundled_names, load_scenario, resolve
from borderwatch.scenario.model import (
    Aircraft, AirCover, Assets, BorderSpec, Patrols, Crossing, LonLat, Party, Scenario, TerrainSpec,
    ThreatSource, TroopUnit, Watchtowers,
)

__all__ = [
    "Aircraft", "AirCover", "Assets", "Patrols", "BorderSpec", "Crossing", "LonLat", "Party", "Scenario",
    "TerrainSpec", "ThreatSource", "TroopUnit", "Watchtowers", "bundled_names",
    "load_scenario", "resolve",
]
