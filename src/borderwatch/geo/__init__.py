"""The border and the terrain in the scenario's local metric projection."""

from borderwatch.geo.border import Border, Located, Sectors
from borderwatch.geo.projection import LocalProjection
from borderwatch.geo.terrain import Bounds, Terrain

__all__ = ["Border", "Bounds", "Located", "LocalProjection", "Sectors", "Terrain"]
