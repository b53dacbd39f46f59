"""Reading the border line from GeoJSON, with errors that point into the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely

from borderwatch.errors import ScenarioError
from borderwatch.scenario.fields import describe


def _geometry(doc: object, name: str) -> tuple[dict, str]:
    """Find the one line geometry in a FeatureCollection, Feature or bare geometry."""
    if not isinstance(doc, dict) or "type" not in doc:
        raise ScenarioError(name, "", "not a GeoJSON object (no \"type\")")
    kind = doc["type"]
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list) or not features:
            raise ScenarioError(name, "features", "must list exactly one border feature, got none")
        if len(features) != 1:
            raise ScenarioError(name, "features",
                                f"must list exactly one border feature, got {len(features)}")
        feature = features[0]
        if not isinstance(feature, dict) or not isinstance(feature.get("geometry"), dict):
            raise ScenarioError(name, "features[0].geometry", "missing or not an object")
        return feature["geometry"], "features[0].geometry"
    if kind == "Feature":
        if not isinstance(doc.get("geometry"), dict):
            raise ScenarioError(name, "geometry", "missing or not an object")
        return doc["geometry"], "geometry"
    return doc, ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_border_lonlat(path: Path, field: str) -> np.ndarray:
    """Return the border vertices (n, 2) lon/lat from a GeoJSON file.

    Accepts a LineString, or a MultiLineString whose parts join end to end.
    Refuses coordinates out of range, fewer than two distinct points, and a
    line that crosses itself (a border cannot).
    """
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(name, "",
                            f"file not found ({field} points to {path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(name, "", f"cannot read: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(name, "", f"not valid JSON: {exc.msg} at line {exc.lineno}, "
                                      f"column {exc.colno}") from None
    geometry, where = _geometry(doc, name)
    kind = geometry.get("type")
    coords_where = _join(where, "coordinates")
    coords = geometry.get("coordinates")
    if kind == "LineString":
        parts = [coords]
    elif kind == "MultiLineString":
        parts = coords if isinstance(coords, list) else None
    else:
        raise ScenarioError(name, _join(where, "type"),
                            f"must be LineString or MultiLineString, got {describe(kind)}")
    if not isinstance(parts, list) or any(not isinstance(p, list) for p in parts):
        raise ScenarioError(name, coords_where, "must be an array of positions")
    points: list[tuple[float, float]] = []
    for part_no, part in enumerate(parts):
        for i, pos in enumerate(part):
            here = f"{coords_where}[{i}]" if kind == "LineString" else f"{coords_where}[{part_no}][{i}]"
            if (not isinstance(pos, list) or len(pos) < 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pos[:2])):
                raise ScenarioError(name, here, f"must be a [lon, lat] position, got {describe(pos)}")
            lon, lat = float(pos[0]), float(pos[1])
            if not -180 <= lon <= 180:
                raise ScenarioError(name, here, f"longitude must be within -180..180, got {describe(lon)}")
            if not -90 <= lat <= 90:
                raise ScenarioError(name, here, f"latitude must be within -90..90, got {describe(lat)}")
            if part_no > 0 and i == 0:
                if (lon, lat) != points[-1]:
                    raise ScenarioError(name, here, "parts of a MultiLineString border must join "
                                        "end to start")
                continue
            if points and (lon, lat) == points[-1]:
                continue  # a repeated vertex adds nothing
            points.append((lon, lat))
    if len(points) < 2:
        raise ScenarioError(name, coords_where, "a border needs at least two distinct points")
    lonlat = np.asarray(points, dtype=float)
    line = shapely.LineString(lonlat)
    if not line.is_simple:
        crossing = _first_self_crossing(lonlat)
        at = f" near {crossing[0]:.4f}E {crossing[1]:.4f}N" if crossing is not None else ""
        raise ScenarioError(name, coords_where, f"the border line crosses itself{at}")
    lonlat.setflags(write=False)
    return lonlat


def _first_self_crossing(lonlat: np.ndarray) -> tuple[float, float] | None:
    """Where a polyline first touches itself (non-adjacent segments), for the message."""
    segments = [shapely.LineString(lonlat[i:i + 2]) for i in range(len(lonlat) - 1)]
    for i, a in enumerate(segments):
        for j in range(i + 2, len(segments)):
            hit = a.intersection(segments[j])
            if not hit.is_empty:
                p = hit.representative_point()
                return p.x, p.y
    return None
