"""GOSPA: how far a set of track estimates is from the truth, in one number.

The generalised optimal sub-pattern assignment metric of García-Fernández,
Rahmathullah and Svensson ("Generalized optimal sub-pattern assignment
metric", FUSION 2017, arXiv:1601.05585). For truth points X (n of them) and
estimates Y (m), cut-off ``c``, order ``p`` and ``alpha = 2``::

    GOSPA(X, Y) = ( min over partial assignments g of
                      sum_{(i, j) in g} d(x_i, y_j)^p  +  c^p / 2 * (n + m - 2 |g|) ) ^ (1/p)

where only pairs with ``d < c`` may be assigned. It splits into the three
things a tracker gets wrong: *localisation* (sum of ``d^p`` over assigned
pairs), *missed* targets (``c^p / 2`` for each unassigned truth) and *false*
tracks (``c^p / 2`` for each unassigned estimate); ``distance^p`` is their sum.
The components are reported exactly as Stone Soup's ``GOSPAMetric`` reports
them (not raised to ``1/p``), and the tests hold the two equal to 1e-9.

Why it is fast at tracker scale. A pair farther apart than ``c`` can never be
worth assigning: its cost would be at least ``c^p``, which is what leaving
both points unassigned costs (``2 * c^p / alpha`` with ``alpha = 2``). So the
only candidate pairs are those within ``c`` of each other, found with a
k-d tree; the bipartite graph they form falls apart into small connected
components (a target, its track, perhaps a neighbour), each an independent
assignment problem. Components with a single point on one side -- nearly all
of them when tracks sit on their targets -- are solved together, vectorised
(that point takes its nearest partner); only the rest go one by one to
``scipy.optimize.linear_sum_assignment``. 20,000 truths against 20,000
estimates at one target per km^2 take a few tens of milliseconds. (Sets so
dense that every point is within ``c`` of every other make one big component,
as they must.)

``alpha < 2`` is accepted too. There the metric of the paper matches every
point of the smaller set (pairs at ``d >= c`` cost ``c^p``) and charges
``c^p / alpha`` per point of cardinality mismatch. The same candidate pairs
are optimal (any assignment's cost is ``c^p * min(n, m) + c^p / alpha *
|n - m|`` plus ``d^p - c^p`` for each pair within ``c``), so the same solver
serves; the leftover points of the smaller set are paired off at cost
``c^p`` and reported under *localisation*, and *missed* / *false* count only
the cardinality mismatch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from borderwatch.errors import TrackError

__all__ = ["Gospa", "GospaSeries", "gospa", "gospa_series"]


@dataclass(frozen=True)
class Gospa:
    """GOSPA between one truth set and one estimate set.

    ``distance = (localisation + missed + false) ** (1 / p)``; the three
    components are in units of distance^p, as Stone Soup reports them.
    ``assignment[i]`` is the estimate index given to truth ``i``, or -1.
    """

    distance: float
    localisation: float
    missed: float
    false: float
    n_missed: int
    n_false: int
    assignment: np.ndarray


@dataclass(frozen=True)
class GospaSeries:
    """Per-scan GOSPA values, one array entry per scan (see :class:`Gospa`)."""

    distance: np.ndarray
    localisation: np.ndarray
    missed: np.ndarray
    false: np.ndarray
    n_missed: np.ndarray
    n_false: np.ndarray

    def mean(self) -> float:
        """Mean GOSPA distance over the scans (0.0 when there are none)."""
        return float(self.distance.mean()) if self.distance.size else 0.0


def _points(name: str, xy) -> np.ndarray:
    try:
        a = np.asarray(xy, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TrackError(f"gospa: {name} must be an (n, 2) array of x, y positions: {exc}") from None
    if a.size == 0:
        return np.empty((0, 2))
    if a.ndim != 2 or a.shape[1] != 2:
        raise TrackError(
            f"gospa: {name} must be an (n, 2) array of x, y positions, got shape {a.shape}")
    if not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
        raise TrackError(f"gospa: {name} row {bad} is not finite ({a[bad].tolist()})")
    return a


def _parameters(c: float, p: float, alpha: float) -> tuple[float, float, float]:
    for name, v in (("c", c), ("p", p), ("alpha", alpha)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TrackError(f"gospa: {name} must be a number, got {v!r}")
        if not math.isfinite(v):
            raise TrackError(f"gospa: {name} must be finite, got {v!r}")
    if c <= 0:
        raise TrackError(f"gospa: cut-off c must be > 0, got {c!r}")
    if p < 1:
        raise TrackError(f"gospa: order p must be >= 1 (below 1 it is not a metric), got {p!r}")
    if not 0 < alpha <= 2:
        raise TrackError(f"gospa: alpha must be in (0, 2], got {alpha!r}")
    return float(c), float(p), float(alpha)


def _assign(truth: np.ndarray, est: np.ndarray, c: float, p: float):
    """Optimal partial assignment over pairs with d < c: (truth idx, est idx, d^p)."""
    n, m = len(truth), len(est)
    empty = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0))
    if n == 0 or m == 0:
        return empty
    pairs = cKDTree(truth).sparse_distance_matrix(cKDTree(est), c, output_type="ndarray")
    if pairs.size == 0:
        return empty
    ti = pairs["i"].astype(np.intp)
    ej = pairs["j"].astype(np.intp)
    # Exact Euclidean distances (the tree's are fine but we want d < c decided on these).
    d = np.hypot(truth[ti, 0] - est[ej, 0], truth[ti, 1] - est[ej, 1])
    keep = d < c
    ti, ej, d = ti[keep], ej[keep], d[keep]
    if ti.size == 0:
        return empty
    w = d**p

    graph = coo_matrix((np.ones(ti.size, np.int8), (ti, n + ej)), shape=(n + m, n + m))
    _, label = connected_components(graph, directed=False)
    elab = label[ti]                                            # component of each edge
    n_truth = np.bincount(label[:n], minlength=label.max() + 1)   # points of each side
    n_est = np.bincount(label[n:], minlength=label.max() + 1)     # in each component
    simple = (n_truth[elab] == 1) | (n_est[elab] == 1)

    # One point on one side: it takes its nearest partner (every edge has d < c,
    # so any assignment beats none, and only one edge can be used).
    order = np.flatnonzero(simple)
    order = order[np.lexsort((w[order], elab[order]))]
    first = np.ones(order.size, bool)
    first[1:] = elab[order[1:]] != elab[order[:-1]]
    pick = order[first]
    out_t, out_e = [ti[pick]], [ej[pick]]

    # The rest: one rectangular assignment per component. Benefit d^p - c^p < 0
    # for a candidate pair, 0 (= leave both unassigned) for a non-candidate.
    hard = np.flatnonzero(~simple)
    if hard.size:
        cp = c**p
        hard = hard[np.argsort(elab[hard], kind="stable")]
        bounds = np.flatnonzero(np.diff(elab[hard])) + 1
        for grp in np.split(hard, bounds):
            rows, r_idx = np.unique(ti[grp], return_inverse=True)
            cols, c_idx = np.unique(ej[grp], return_inverse=True)
            cost = np.zeros((rows.size, cols.size))
            edge = np.zeros((rows.size, cols.size), bool)
            cost[r_idx, c_idx] = w[grp] - cp
            edge[r_idx, c_idx] = True
            r, k = linear_sum_assignment(cost)
            ok = edge[r, k]
            out_t.append(rows[r[ok]])
            out_e.append(cols[k[ok]])

    at = np.concatenate(out_t)
    ae = np.concatenate(out_e)
    aw = np.hypot(truth[at, 0] - est[ae, 0], truth[at, 1] - est[ae, 1]) ** p
    return at, ae, aw


def gospa(truth_xy, est_xy, c: float = 100.0, p: float = 1.0, alpha: float = 2.0) -> Gospa:
    """GOSPA between truth positions (n, 2) and estimated positions (m, 2).

    ``c`` is the cut-off distance (same unit as the positions; a pair at
    ``d >= c`` is never assigned and counts as one miss plus one false track),
    ``p >= 1`` the order, ``0 < alpha <= 2`` (2 gives the missed / false
    decomposition Stone Soup uses). Raises :class:`TrackError` on a malformed
    input.
    """
    truth = _points("truth_xy", truth_xy)
    est = _points("est_xy", est_xy)
    c, p, alpha = _parameters(c, p, alpha)
    n, m = len(truth), len(est)
    at, ae, aw = _assign(truth, est, c, p)
    assignment = np.full(n, -1, dtype=np.int64)
    assignment[at] = ae
    localisation = float(aw.sum())
    k = at.size
    cp = c**p
    if alpha < 2:
        # Pair off the leftover points of the smaller set at cost c^p each.
        free_t = np.flatnonzero(assignment < 0)
        used = np.zeros(m, bool)
        used[ae] = True
        free_e = np.flatnonzero(~used)
        fill = min(free_t.size, free_e.size)
        assignment[free_t[:fill]] = free_e[:fill]
        localisation += fill * cp
        k += fill
    n_missed, n_false = n - k, m - k
    missed = cp / alpha * n_missed
    false = cp / alpha * n_false
    distance = (localisation + missed + false) ** (1.0 / p)
    return Gospa(
        distance=float(distance),
        localisation=localisation,
        missed=float(missed),
        false=float(false),
        n_missed=int(n_missed),
        n_false=int(n_false),
        assignment=assignment,
    )


def gospa_series(
    truth_frames: Sequence,
    est_frames: Sequence,
    c: float = 100.0,
    p: float = 1.0,
    alpha: float = 2.0,
) -> GospaSeries:
    """GOSPA scan by scan: ``truth_frames[k]`` against ``est_frames[k]``, each (n_k, 2)."""
    if len(truth_frames) != len(est_frames):
        raise TrackError(
            f"gospa_series: {len(truth_frames)} truth frames but {len(est_frames)} estimate frames;"
            " they must pair up scan by scan")
    rows = [gospa(t, e, c=c, p=p, alpha=alpha) for t, e in zip(truth_frames, est_frames)]
    return GospaSeries(
        distance=np.array([r.distance for r in rows], dtype=np.float64),
        localisation=np.array([r.localisation for r in rows], dtype=np.float64),
        missed=np.array([r.missed for r in rows], dtype=np.float64),
        false=np.array([r.false for r in rows], dtype=np.float64),
        n_missed=np.array([r.n_missed for r in rows], dtype=np.int64),
        n_false=np.array([r.n_false for r in rows], dtype=np.int64),
    )
