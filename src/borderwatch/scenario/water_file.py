"""Reading a scenario's water mask: GeoJSON polygons where towers cannot stand."""

from __future__ import annotations

import json
from pathlib import Path

import shapely

from borderwatch.errors import ScenarioError
from borderwatch.scenario.fields import describe


def read_water(path: Path) -> shapely.MultiPolygon:
    """All Polygon/MultiPolygon features of a GeoJSON file as one lon/lat MultiPolygon."""
    name = path.name
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ScenarioError(name, "", f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                                      f"column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(name, "", f"cannot read: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" \
            or not isinstance(doc.get("features"), list):
        raise ScenarioError(name, "type", "must be a FeatureCollection of polygons")
    polygons: list[shapely.Polygon] = []
    for i, feature in enumerate(doc["features"]):
        where = f"features[{i}].geometry"
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        if not isinstance(geometry, dict):
            raise ScenarioError(name, where, "missing or not an object")
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            raise ScenarioError(name, f"{where}.type",
                                f"must be Polygon or MultiPolygon, got {describe(geometry.get('type'))}")
        try:
            shape = shapely.geometry.shape(geometry)
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ScenarioError(name, f"{where}.coordinates", f"not valid polygon coordinates ({exc})") from None
        if not shape.is_valid:
            shape = shapely.make_valid(shape)
        polygons.extend(getattr(shape, "geoms", [shape]))
    polygons = [p for p in polygons if isinstance(p, shapely.Polygon) and not p.is_empty]
    return shapely.MultiPolygon(polygons)
