"""Patrol sampling: comb samples and window patrols reproduce their marginals exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from borderwatch.errors import BorderwatchError
from borderwatch.plan.patrol_sampling import comb_sample, sample_window_patrols
from borderwatch.plan.stackelberg import solve_windows

DRAWS = 20_000


def assert_binomial(freq: np.ndarray, p: np.ndarray, draws: int, sigmas: float = 4.0):
    """Empirical frequencies within ``sigmas`` binomial standard deviations (exact at 0 and 1)."""
    sd = np.sqrt(p * (1 - p) / draws)
    bad = np.abs(freq - p) > sigmas * sd + 1e-12
    assert not bad.any(), (np.flatnonzero(bad), freq[bad], p[bad])


# --------------------------------------------------------------------------- comb_sample


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("marginals", [
    [0.5, 0.3, 1.0, 0.2, 0.75, 0.0, 0.25],          # S = 3.0, whole
    [0.9, 0.05, 0.4, 0.33, 0.71, 0.12, 0.6, 0.0],    # S = 3.11
    [0.01] * 30 + [0.99],                            # S = 1.29
])
def test_comb_marginals_and_sizes(marginals, shuffle):
    p = np.array(marginals)
    s = comb_sample(p, 123, days=DRAWS, shuffle=shuffle)
    assert s.shape == (DRAWS, len(p)) and s.dtype == bool
    sizes = s.sum(axis=1)
    total = p.sum()
    lo, hi = math.floor(total + 1e-9), math.ceil(total - 1e-9)
    assert sizes.min() >= lo and sizes.max() <= hi
    # E[size] = S, so sizes split between floor and ceil in proportion
    if lo != hi:
        assert_binomial(np.array([np.mean(sizes == hi)]), np.array([total - lo]), DRAWS)
    assert_binomial(s.mean(axis=0), p, DRAWS)
    assert s[:, p == 1.0].all() and not s[:, p == 0.0].any()


def test_comb_reproducible():
    p = np.linspace(0.05, 0.95, 12)
    a = comb_sample(p, 7, days=50)
    np.testing.assert_array_equal(a, comb_sample(p, 7, days=50))
    assert not np.array_equal(a, comb_sample(p, 8, days=50))
    g1, g2 = np.random.default_rng(3), np.random.default_rng(3)
    np.testing.assert_array_equal(comb_sample(p, g1, days=5), comb_sample(p, g2, days=5))
    # a generator moves on: the next call differs
    assert not np.array_equal(comb_sample(p, g1, days=5), comb_sample(p, 3, days=5))


def test_comb_shuffle_decorrelates_neighbours():
    # Without shuffling, systematic sampling with p = 1/2 everywhere picks
    # exactly every other item: neighbours are never together. Shuffled, they are.
    p = np.full(10, 0.5)
    fixed = comb_sample(p, 1, days=2000, shuffle=False)
    assert not (fixed[:, :-1] & fixed[:, 1:]).any()
    mixed = comb_sample(p, 1, days=2000)
    assert (mixed[:, :-1] & mixed[:, 1:]).any(axis=1).mean() > 0.5


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40),
       st.integers(0, 2**32 - 1))
def test_comb_sizes_always_floor_or_ceil(marginals, seed):
    p = np.array(marginals)
    sizes = comb_sample(p, seed, days=200).sum(axis=1)
    total = p.sum()
    assert sizes.min() >= math.floor(total + 1e-9) and sizes.max() <= math.ceil(total - 1e-9)


def test_comb_errors():
    with pytest.raises(BorderwatchError, match=r"marginals\[1\] = 1.2"):
        comb_sample([0.5, 1.2], 0)
    with pytest.raises(BorderwatchError, match=r"marginals\[0\] = nan"):
        comb_sample([np.nan, 0.2], 0)
    with pytest.raises(BorderwatchError, match=r"marginals\[0\] = -0.1"):
        comb_sample([-0.1], 0)
    with pytest.raises(BorderwatchError, match="1-D"):
        comb_sample(np.zeros((2, 2)), 0)
    with pytest.raises(BorderwatchError, match="days = 0"):
        comb_sample([0.5], 0, days=0)
    with pytest.raises(BorderwatchError, match="seed"):
        comb_sample([0.5], None)
    # rounding just outside [0, 1] is tolerated
    assert comb_sample([1 + 1e-12, -1e-12], 0, days=3)[:, 0].all()


# --------------------------------------------------------------------------- window patrols


def test_window_patrols_match_window_mix():
    x = np.array([0.2, 0.5, 0.0, 0.9, 0.4, 1.0, 0.3])      # S = 3.3: 9 targets, stretches of 3
    n, L, units = 9, 3, 4
    starts = sample_window_patrols(x, L, n, units, seed=11, days=DRAWS)
    assert starts.shape == (DRAWS, units) and starts.dtype == np.int64
    assert starts.min() >= -1 and starts.max() <= n - L
    freq = np.array([(starts == s).sum() for s in range(len(x))]) / DRAWS
    assert_binomial(freq, x, DRAWS)
    # each day: distinct stretches, 3 or 4 busy units
    busy = (starts >= 0).sum(axis=1)
    assert busy.min() >= 3 and busy.max() <= 4
    for row in starts[:200]:
        used = row[row >= 0]
        assert len(np.unique(used)) == len(used)
    # which unit rests is random: each is busy 3.3 / 4 of the days
    assert_binomial((starts >= 0).mean(axis=0), np.full(units, x.sum() / units), DRAWS)
    np.testing.assert_array_equal(starts, sample_window_patrols(x, L, n, units, 11, DRAWS))
    assert not np.array_equal(starts, sample_window_patrols(x, L, n, units, 12, DRAWS))


def test_window_patrols_from_the_equilibrium():
    rng = np.random.default_rng(4)
    n, L, units = 20, 3, 3
    au = rng.uniform(1, 10, n)
    game = (au - rng.uniform(1, 10, n), au, rng.uniform(1, 10, n), rng.uniform(-10, -1, n))
    sol = solve_windows(*game, float(units), L)
    starts = sample_window_patrols(sol.window_mix, L, n, units, seed=5, days=DRAWS)
    covered = np.zeros((DRAWS, n), dtype=int)
    days, slots = np.nonzero(starts >= 0)
    for k in range(L):
        np.add.at(covered, (days, starts[days, slots] + k), 1)
    # stretches are sampled in border order: two units never share a target, and
    # every target is covered with exactly its equilibrium probability
    assert sol.coverage.max() <= 1 + 1e-9 and covered.max() <= 1
    assert_binomial(covered.mean(axis=0), np.clip(sol.coverage, 0, 1), DRAWS)


def test_more_units_than_stretches():
    starts = sample_window_patrols(np.array([1.0, 1.0]), 2, 3, 5, seed=0, days=10)
    assert starts.shape == (10, 5)
    assert ((starts >= 0).sum(axis=1) == 2).all()
    assert set(np.unique(starts)) == {-1, 0, 1}


def test_window_patrol_errors():
    x = np.array([0.5, 0.5])
    with pytest.raises(BorderwatchError, match="window_mix has 2 entries"):
        sample_window_patrols(x, 2, 5, 1, 0, 1)
    with pytest.raises(BorderwatchError, match="only 1 units"):
        sample_window_patrols(np.array([0.9, 0.9]), 2, 3, 1, 0, 1)
    with pytest.raises(BorderwatchError, match="units = 0"):
        sample_window_patrols(x, 2, 3, 0, 0, 1)
    with pytest.raises(BorderwatchError, match="window = 0"):
        sample_window_patrols(x, 0, 3, 1, 0, 1)
    with pytest.raises(BorderwatchError, match="n_targets = 1"):
        sample_window_patrols(x, 2, 1, 1, 0, 1)
    with pytest.raises(BorderwatchError, match="days = -1"):
        sample_window_patrols(x, 2, 3, 1, 0, -1)
    with pytest.raises(BorderwatchError, match="seed"):
        sample_window_patrols(x, 2, 3, 1, "x", 1)
    with pytest.raises(BorderwatchError, match=r"window_mix\[1\] = 2"):
        sample_window_patrols(np.array([0.5, 2.0]), 2, 3, 3, 0, 1)
