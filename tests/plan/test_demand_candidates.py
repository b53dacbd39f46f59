"""Crossing demand and candidate sites on the bundled scenarios."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from borderwatch.geo import Border, Terrain
from borderwatch.geo.projection import geometry_to_local
from borderwatch.plan.candidates import CandidateOptions, candidate_sites
from borderwatch.plan.demand import DemandOptions, crossing_demand


@pytest.fixture(scope="module")
def iraq(iraq_syria):
    border = Border.from_scenario(iraq_syria)
    terrain = Terrain.from_scenario(iraq_syria)
    water = geometry_to_local(iraq_syria.terrain.water, border.projection)
    return iraq_syria, border, terrain, water


def test_demand_weights_are_a_distribution_led_by_the_north(iraq):
    s, border, terrain, water = iraq
    d = crossing_demand(s, border, terrain, water)
    assert len(d) == 3 * len(d.stations_km)
    assert d.weight.min() > 0 and d.weight.sum() == pytest.approx(1.0)
    # The sources are in the north-east: the first 200 km carry most of the weight,
    # the desert south of km 450 (far from every source) little of it.
    north = d.weight[d.chainage_km < 200].sum()
    south = d.weight[d.chainage_km > 450].sum()
    assert north > 0.6 and south < 0.1
    loc = border.locate(d.x, d.y)
    assert np.allclose(loc.signed_distance_m, d.offset_m, atol=1.0) or \
        np.mean(np.abs(loc.signed_distance_m - d.offset_m) < 1.0) > 0.97


def test_water_and_slope_lower_passability(iraq):
    s, border, terrain, water = iraq
    d = crossing_demand(s, border, terrain, water)
    wet = shapely.contains_xy(water, d.x, d.y)
    assert wet.any(), "the Euphrates and the Tigris cross the line"
    assert d.passability[wet].max() <= DemandOptions().water_factor + 1e-9
    assert d.passability[~wet].mean() > 0.8


def test_candidates_are_own_side_dry_and_within_the_band(iraq):
    s, border, terrain, water = iraq
    opt = CandidateOptions()
    c = candidate_sites(border, terrain, water, opt)
    assert 600 < len(c) <= 3 * int(border.length_km / opt.spacing_km) + 3
    loc = border.locate(c.x, c.y)
    assert (loc.signed_distance_m >= opt.min_setback_m).all()
    assert (loc.signed_distance_m <= opt.max_setback_km * 1000).all()
    assert not shapely.contains_xy(water, c.x, c.y).any()
    assert np.isfinite(c.ground_m).all()
    lon, lat = border.projection.to_lonlat(c.x, c.y)
    iq = border.locate_lonlat(lon, lat)
    assert (iq.side == 1).all()


def test_snapping_moves_candidates_uphill(iraq):
    s, border, terrain, water = iraq
    flat = candidate_sites(border, terrain, water, CandidateOptions(snap_radius_m=0.0))
    snapped = candidate_sites(border, terrain, water, CandidateOptions(snap_radius_m=500.0))
    assert np.median(snapped.ground_m) > np.median(flat.ground_m)
