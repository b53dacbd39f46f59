"""GOSPA: hand-computed cases, Stone Soup's GOSPAMetric as the reference, metric properties."""

from __future__ import annotations

import datetime
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from borderwatch.errors import BorderwatchError, TrackError
from borderwatch.track.gospa import Gospa, gospa, gospa_series

# ----------------------------------------------------------------- hand-computed


def test_empty_against_empty_is_zero():
    g = gospa(np.empty((0, 2)), np.empty((0, 2)))
    assert isinstance(g, Gospa)
    assert (g.distance, g.localisation, g.missed, g.false) == (0.0, 0.0, 0.0, 0.0)
    assert (g.n_missed, g.n_false) == (0, 0)
    assert g.assignment.shape == (0,)


@pytest.mark.parametrize("c, p", [(100.0, 1.0), (50.0, 2.0), (7.0, 3.0)])
def test_all_missed_and_all_false(c, p):
    truth = np.array([[0.0, 0.0], [10.0, 5.0], [-3.0, 400.0]])
    g = gospa(truth, [], c=c, p=p)
    assert g.distance == pytest.approx((c**p / 2 * 3) ** (1 / p), rel=1e-12)
    assert g.missed == pytest.approx(c**p / 2 * 3)
    assert (g.localisation, g.false, g.n_missed, g.n_false) == (0.0, 0.0, 3, 0)
    assert g.assignment.tolist() == [-1, -1, -1]
    h = gospa([], truth, c=c, p=p)
    assert h.distance == pytest.approx(g.distance, rel=1e-12)
    assert h.false == pytest.approx(c**p / 2 * 3)
    assert (h.missed, h.n_missed, h.n_false) == (0.0, 0, 3)


@pytest.mark.parametrize("p", [1.0, 2.0])
def test_one_pair_within_cutoff(p):
    g = gospa([[0.0, 0.0]], [[30.0, 40.0]], c=100.0, p=p)      # d = 50
    assert g.distance == pytest.approx(50.0, rel=1e-12)
    assert g.localisation == pytest.approx(50.0**p)
    assert (g.missed, g.false, g.n_missed, g.n_false) == (0.0, 0.0, 0, 0)
    assert g.assignment.tolist() == [0]


@pytest.mark.parametrize("d", [100.0, 130.0, 5_000.0])
def test_pair_at_or_beyond_cutoff_is_one_miss_and_one_false(d):
    g = gospa([[0.0, 0.0]], [[d, 0.0]], c=100.0, p=1.0)
    assert g.distance == pytest.approx(100.0)                  # c/2 + c/2
    assert (g.localisation, g.missed, g.false) == (0.0, 50.0, 50.0)
    assert (g.n_missed, g.n_false) == (1, 1)
    assert g.assignment.tolist() == [-1]


def test_mixed_case_by_hand():
    # truth 0 has its estimate 3 m off, truth 1 has none, estimate 1 is far from everything.
    truth = [[0.0, 0.0], [1_000.0, 0.0]]
    est = [[3.0, 0.0], [0.0, 5_000.0]]
    g = gospa(truth, est, c=100.0, p=2.0)
    assert g.localisation == pytest.approx(9.0)
    assert g.missed == g.false == pytest.approx(100.0**2 / 2)
    assert g.distance == pytest.approx(np.sqrt(9.0 + 100.0**2))
    assert g.assignment.tolist() == [0, -1]


def test_shared_estimate_goes_to_the_cheaper_overall_assignment():
    # Greedy would give estimate 0 to truth 0 (d=1) and strand truth 1; optimal
    # gives truth 1 estimate 0 (d=9) and truth 0 estimate 1 (d=10): 19 < 1 + 50 + 50.
    truth = [[0.0, 0.0], [10.0, 0.0]]
    est = [[1.0, 0.0], [-10.0, 0.0]]
    g = gospa(truth, est, c=100.0, p=1.0)
    assert g.distance == pytest.approx(19.0)
    assert g.assignment.tolist() == [1, 0]


def test_alpha_below_two_pairs_off_the_smaller_set():
    # Two truths, one far estimate: alpha=2 counts 2 missed + 1 false (1.5 c);
    # alpha=1 pairs the estimate at cost c and charges c for the extra truth.
    truth = [[0.0, 0.0], [0.0, 1_000.0]]
    est = [[500.0, 500.0]]
    assert gospa(truth, est, c=100.0, alpha=2.0).distance == pytest.approx(150.0)
    g = gospa(truth, est, c=100.0, alpha=1.0)
    assert g.distance == pytest.approx(200.0)
    assert (g.localisation, g.missed, g.false, g.n_missed, g.n_false) == (100.0, 100.0, 0.0, 1, 0)
    assert sorted(g.assignment.tolist()) == [-1, 0]


def test_series_is_scan_by_scan():
    truth = [np.array([[0.0, 0.0]]), np.empty((0, 2)), np.array([[0.0, 0.0], [500.0, 0.0]])]
    est = [np.array([[0.0, 20.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 0.0]])]
    s = gospa_series(truth, est, c=100.0, p=1.0)
    assert s.distance.tolist() == pytest.approx([20.0, 50.0, 50.0])
    assert s.n_missed.tolist() == [0, 0, 1]
    assert s.n_false.tolist() == [0, 1, 0]
    assert s.mean() == pytest.approx(40.0)
    with pytest.raises(TrackError, match="2 estimate frames"):
        gospa_series(truth, est[:2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"truth_xy": np.zeros((3, 3))}, r"truth_xy must be an \(n, 2\) array.*\(3, 3\)"),
        ({"est_xy": np.zeros(4)}, r"est_xy must be an \(n, 2\) array"),
        ({"truth_xy": [[0.0, np.nan]]}, "truth_xy row 0 is not finite"),
        ({"est_xy": [[0.0, 0.0], [np.inf, 1.0]]}, "est_xy row 1 is not finite"),
        ({"c": 0.0}, "c must be > 0"),
        ({"c": float("inf")}, "c must be finite"),
        ({"p": 0.5}, "p must be >= 1"),
        ({"alpha": 2.5}, r"alpha must be in \(0, 2\]"),
        ({"alpha": 0.0}, r"alpha must be in \(0, 2\]"),
        ({"c": "far"}, "c must be a number"),
    ],
)
def test_bad_input_is_a_track_error_naming_the_problem(kwargs, match):
    args = {"truth_xy": [[0.0, 0.0]], "est_xy": [[1.0, 1.0]], **kwargs}
    with pytest.raises(TrackError, match=match) as err:
        gospa(**args)
    assert isinstance(err.value, BorderwatchError)


# ------------------------------------------------------- Stone Soup as reference


def _random_instance(rng, n, m, extent=300.0):
    """Points in a square, some estimates exactly on a truth, some truths duplicated."""
    truth = rng.uniform(0, extent, (n, 2))
    if n >= 4:
        truth[1] = truth[0]                                   # two targets on one spot
    est = rng.uniform(0, extent, (m, 2))
    k = min(n, m) // 2
    if k:
        est[:k] = truth[rng.choice(n, k, replace=False)] + rng.normal(0, 8, (k, 2))
        est[0] = truth[0]                                     # an exact hit (d = 0)
    return truth, est


def _stonesoup(truth, est, c, p):
    from stonesoup.metricgenerator.ospametric import GOSPAMetric
    from stonesoup.types.groundtruth import GroundTruthState
    from stonesoup.types.state import State

    when = datetime.datetime(2024, 1, 1)
    metric = GOSPAMetric(c=c, p=p)
    truth_states = [GroundTruthState(np.array([[x], [y]]), timestamp=when) for x, y in truth]
    est_states = [State(np.array([[x], [y]]), timestamp=when) for x, y in est]
    single, _ = metric.compute_gospa_metric(est_states, truth_states)
    return single.value


@pytest.mark.parametrize("c, p", [(100.0, 1.0), (50.0, 2.0)])
@pytest.mark.parametrize("seed", range(5))
def test_equals_stonesoup_gospa(seed, c, p):
    pytest.importorskip("stonesoup")
    rng = np.random.default_rng(1_000 * seed + int(p))
    # (0, 0) is left out: Stone Soup's compute_gospa_metric raises ValueError on two
    # empty sets (it takes the one timestamp from the states); see the empty test above.
    sizes = [(0, 7), (9, 0), (1, 1), (40, 40), (40, 3), (2, 40)]
    sizes += [tuple(rng.integers(0, 41, 2)) for _ in range(5)]
    for n, m in sizes:
        truth, est = _random_instance(rng, int(n), int(m), extent=rng.choice([120.0, 300.0, 800.0]))
        ours = gospa(truth, est, c=c, p=p)
        ref = _stonesoup(truth, est, c, p)
        for key in ("distance", "localisation", "missed", "false"):
            assert getattr(ours, key) == pytest.approx(float(ref[key]), rel=1e-9, abs=1e-9), (
                n, m, key)
        assert ours.n_missed == round(float(ref["missed"]) / (c**p / 2))
        assert ours.n_false == round(float(ref["false"]) / (c**p / 2))


def test_equals_stonesoup_compute_over_time():
    """The time-series entry point too (switching penalty 0, two timestamps)."""
    pytest.importorskip("stonesoup")
    from stonesoup.metricgenerator.ospametric import GOSPAMetric
    from stonesoup.types.groundtruth import GroundTruthState
    from stonesoup.types.state import State

    rng = np.random.default_rng(7)
    t0 = datetime.datetime(2024, 1, 1)
    frames = [_random_instance(rng, 12, 10), _random_instance(rng, 6, 15)]
    truth_states, truth_ids, est_states, est_ids = [], [], [], []
    for k, (truth, est) in enumerate(frames):
        when = t0 + datetime.timedelta(seconds=k)
        truth_states += [GroundTruthState(np.c_[xy], timestamp=when) for xy in truth]
        truth_ids += list(range(len(truth)))
        est_states += [State(np.c_[xy], timestamp=when) for xy in est]
        est_ids += list(range(len(est)))
    metric = GOSPAMetric(c=100.0, p=1.0)
    ref = metric.compute_over_time(est_states, est_ids, truth_states, truth_ids)
    ours = gospa_series([f[0] for f in frames], [f[1] for f in frames], c=100.0, p=1.0)
    assert [m.value["distance"] for m in ref.value] == pytest.approx(ours.distance.tolist(),
                                                                      rel=1e-9)


# --------------------------------------------- the fast path against brute force


def _brute_force(truth, est, c, p):
    """Dense rectangular assignment on min(d, c)^p plus c^p/2 per cardinality mismatch."""
    n, m = len(truth), len(est)
    if n == 0 or m == 0:
        return (c**p / 2 * (n + m)) ** (1 / p)
    d = np.hypot(*(truth[:, None, :] - est[None, :, :]).transpose(2, 0, 1))
    cost = np.minimum(d, c) ** p
    r, k = linear_sum_assignment(cost)
    return (cost[r, k].sum() + c**p / 2 * abs(n - m)) ** (1 / p)


@pytest.mark.parametrize("seed", range(4))
def test_component_split_matches_dense_assignment(seed):
    # Clusters so that many components have several points on both sides.
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 20_000, (60, 2))
    truth = (centres[rng.integers(0, 60, 400)] + rng.normal(0, 60, (400, 2)))
    est = np.vstack([truth[rng.random(400) < 0.85] + rng.normal(0, 30, (1, 2)),
                     centres[rng.integers(0, 60, 80)] + rng.normal(0, 80, (80, 2))])
    for c, p in ((100.0, 1.0), (50.0, 2.0), (200.0, 1.5)):
        ours = gospa(truth, est, c=c, p=p)
        assert ours.distance == pytest.approx(_brute_force(truth, est, c, p), rel=1e-9)
        a = ours.assignment
        hit = a >= 0
        assert np.unique(a[hit]).size == hit.sum()            # one truth per estimate
        assert np.all(np.hypot(*(truth[hit] - est[a[hit]]).T) < c)
        assert ours.n_missed == (~hit).sum() and ours.n_false == len(est) - hit.sum()


def test_twenty_thousand_at_tracker_density_is_fast():
    rng = np.random.default_rng(3)
    n = 20_000
    side = np.sqrt(n) * 1_000.0                               # one target per km^2
    truth = rng.uniform(0, side, (n, 2))
    kept = rng.random(n) < 0.9
    est = np.vstack([truth[kept] + rng.normal(0, 15, (kept.sum(), 2)),
                     rng.uniform(0, side, (n - kept.sum(), 2))])
    gospa(truth[:100], est[:100])
    t0 = time.perf_counter()
    g = gospa(truth, est, c=100.0, p=1.0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert abs(g.n_missed - (~kept).sum()) < 0.02 * n
    assert g.n_missed - g.n_false == n - len(est)


# ------------------------------------------------------------ metric properties

_coord = st.integers(0, 40).map(lambda v: 5.0 * v)          # a coarse grid: overlaps and ties
_points = st.lists(st.tuples(_coord, _coord), max_size=8).map(
    lambda pts: np.array(pts, dtype=float).reshape(-1, 2))
_params = st.sampled_from([(100.0, 1.0), (30.0, 2.0), (60.0, 1.5)])


def _same_multiset(a, b):
    return len(a) == len(b) and np.array_equal(np.sort(a.view("f8,f8").ravel()),
                                               np.sort(b.view("f8,f8").ravel()))


@settings(max_examples=150, deadline=None)
@given(_points, _points, _params)
def test_symmetric(x, y, cp):
    c, p = cp
    gx, gy = gospa(x, y, c=c, p=p), gospa(y, x, c=c, p=p)
    assert gx.distance == pytest.approx(gy.distance, rel=1e-9, abs=1e-9)


@settings(max_examples=150, deadline=None)
@given(_points, _points, _params)
def test_zero_iff_same_set(x, y, cp):
    c, p = cp
    assert gospa(x, x[::-1], c=c, p=p).distance == 0.0
    assert (gospa(x, y, c=c, p=p).distance == 0.0) == _same_multiset(x, y)


@settings(max_examples=150, deadline=None)
@given(_points, _points, _points, _params)
def test_triangle_inequality(x, y, z, cp):
    c, p = cp
    xz = gospa(x, z, c=c, p=p).distance
    assert xz <= gospa(x, y, c=c, p=p).distance + gospa(y, z, c=c, p=p).distance + 1e-9


@settings(max_examples=150, deadline=None)
@given(_points, _points, _params, st.randoms(use_true_random=False))
def test_permutation_invariant(x, y, cp, rnd):
    c, p = cp
    px = rnd.sample(range(len(x)), len(x))
    py = rnd.sample(range(len(y)), len(y))
    g, h = gospa(x, y, c=c, p=p), gospa(x[px], y[py], c=c, p=p)
    assert h.distance == pytest.approx(g.distance, rel=1e-9, abs=1e-9)
