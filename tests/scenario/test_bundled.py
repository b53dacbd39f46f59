"""The bundled Iraq–Syria scenario is real, complete and consistent."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

from borderwatch import load_scenario
from borderwatch.scenario import bundled_names

GEOD = Geod(ellps="WGS84")
TURKEY_TRIPOINT = (42.355, 37.108)   # Iraq–Syria–Turkey, lon/lat
JORDAN_TRIPOINT = (38.783, 33.367)   # Iraq–Syria–Jordan


def _km(a, b) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2] / 1000.0


def test_bundled_names():
    assert {"iraq-syria", "tiny"} <= set(bundled_names())


def test_border_length_is_about_600_km_by_geodesic(iraq_syria):
    lonlat = iraq_syria.border.lonlat
    length = GEOD.line_length(lonlat[:, 0], lonlat[:, 1]) / 1000.0
    assert 590.0 <= length <= 615.0
    assert len(lonlat) == 62


def test_border_runs_from_turkey_tripoint_to_jordan_tripoint(iraq_syria):
    lonlat = iraq_syria.border.lonlat
    assert _km(lonlat[0], TURKEY_TRIPOINT) < 5.0
    assert _km(lonlat[-1], JORDAN_TRIPOINT) < 5.0


def test_headcount_parties_and_owner(iraq_syria):
    assert iraq_syria.headcount == 13_000
    assert len(iraq_syria.parties) == 5
    assert iraq_syria.owner.id == "iq-mod"
    assert {p.id for p in iraq_syria.parties} == {"iq-mod", "sy-gov", "sdf", "tr", "us"}


def test_every_source_and_crossing_cites_something(iraq_syria):
    assert all(len(s.citation) > 20 for s in iraq_syria.threat_sources)
    assert all(c.citation for c in iraq_syria.crossings)
    assert {c.name.split(" – ")[0] for c in iraq_syria.crossings} == {"al-Qa'im", "Rabia", "al-Walid"}


def test_terrain_is_labelled_synthetic(iraq_syria):
    assert iraq_syria.terrain is not None
    assert iraq_syria.terrain.synthetic
    assert "synthetic" in iraq_syria.terrain.dem.name


def test_releasability_owner_sees_everything(iraq_syria):
    for kind in iraq_syria.releasability:
        assert "iq-mod" in iraq_syria.released_to(kind)
    assert "sy-gov" not in iraq_syria.released_to("plan")


def test_scenario_is_immutable(iraq_syria):
    import dataclasses

    import pytest

    with pytest.raises(dataclasses.FrozenInstanceError):
        iraq_syria.name = "x"  # type: ignore[misc]
    with pytest.raises(ValueError):
        iraq_syria.border.lonlat[0, 0] = 0.0
    with pytest.raises(TypeError):
        iraq_syria.releasability["plan"] = ()  # type: ignore[index]


def test_load_by_path_equals_load_by_name(iraq_syria):
    again = load_scenario(iraq_syria.path)
    assert again.name == iraq_syria.name
    np.testing.assert_array_equal(again.border.lonlat, iraq_syria.border.lonlat)
    assert load_scenario(iraq_syria.path.parent).path == iraq_syria.path
