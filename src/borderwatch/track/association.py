"""Hypothesiser (gating) and DataAssociator (global nearest neighbour), columnar.

Gating finds, for every predicted track, the detections inside its
Mahalanobis gate. A k-d tree over the detections answers "who is near whom"
so that the number of pairs examined grows with the number of plausible
pairs, not with tracks × detections. Tracks are queried in classes of gate
radius (powers of two), so one very uncertain track does not widen the
search for all the others.

Association then splits the bipartite gate graph into connected components.
Almost every component at border densities is one track with one detection:
those are assigned in one vectorised step. The rest are solved exactly with
`scipy.optimize.linear_sum_assignment` on the component's cost matrix,
augmented with one "missed" column per track (cost = the gate), which is the
textbook GNN (Blackman & Popoli, *Design and Analysis of Modern Tracking
Systems*, 1999, §6.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from borderwatch.track.kalman import inv2, mahalanobis2


@dataclass(frozen=True, slots=True)
class Hypotheses:
    """Gated (track, detection) pairs with their cost (squared Mahalanobis distance)."""

    track: np.ndarray   # int64 row index into the predicted tracks given
    det: np.ndarray     # int64 row index into the detections given
    cost: np.ndarray    # float64 d²

    def __len__(self) -> int:
        return len(self.track)


class Hypothesiser:
    """Mahalanobis gating of predicted tracks against detections."""

    def __init__(self, gate_d2: float) -> None:
        self.gate_d2 = float(gate_d2)

    def hypothesise(self, pos: np.ndarray, pos_cov: np.ndarray, det_xy: np.ndarray,
                    det_cov: np.ndarray, tree: cKDTree | None = None) -> Hypotheses:
        """Pairs within the gate. pos (n, 2), pos_cov (n, 2, 2), det_xy (m, 2), det_cov (m, 2, 2)."""
        n, m = len(pos), len(det_xy)
        if n == 0 or m == 0:
            e = np.empty(0, np.int64)
            return Hypotheses(e, e, np.empty(0))
        if tree is None:
            tree = cKDTree(det_xy)
        # Largest eigenvalue of P_pos + R_max bounds the gate's reach for every detection.
        r_max = float(_max_eig(det_cov).max())
        lam = _max_eig(pos_cov) + r_max
        radius = np.sqrt(self.gate_d2 * lam)
        cls = np.ceil(np.log2(np.maximum(radius, 1e-3))).astype(np.int64)
        ti, dj = [], []
        for c in np.unique(cls):
            rows = np.flatnonzero(cls == c)
            sub = cKDTree(pos[rows])
            pairs = sub.sparse_distance_matrix(tree, float(2.0 ** c), output_type="ndarray")
            ti.append(rows[pairs["i"]])
            dj.append(pairs["j"].astype(np.int64))
        t = np.concatenate(ti)
        d = np.concatenate(dj)
        if len(t) == 0:
            return Hypotheses(t, d, np.empty(0))
        s = pos_cov[t] + det_cov[d]
        s_inv, _ = inv2(s)
        d2 = mahalanobis2(det_xy[d] - pos[t], s_inv)
        keep = d2 <= self.gate_d2
        return Hypotheses(t[keep], d[keep], d2[keep])


def _max_eig(c: np.ndarray) -> np.ndarray:
    """Largest eigenvalue of symmetric 2x2 matrices (k, 2, 2)."""
    a, b, d = c[:, 0, 0], 0.5 * (c[:, 0, 1] + c[:, 1, 0]), c[:, 1, 1]
    half_tr = 0.5 * (a + d)
    return half_tr + np.sqrt(np.maximum(0.25 * (a - d) ** 2 + b * b, 0.0))


DENSE_CELLS = 40_000      # tracks × (detections + tracks) solved as one matrix, at most


class GNNAssociator:
    """Global nearest neighbour: the least total cost one-to-one assignment."""

    def __init__(self, missed_cost: float) -> None:
        self.missed_cost = float(missed_cost)

    def associate(self, hyp: Hypotheses, n_tracks: int, n_dets: int) -> tuple[np.ndarray, np.ndarray]:
        """Assigned (track, detection) row pairs; each track and detection at most once."""
        if len(hyp) == 0:
            e = np.empty(0, np.int64)
            return e, e
        t, d, cost = hyp.track, hyp.det, hyp.cost
        # Small problems (a few towers' reports in one look) skip the graph machinery,
        # whose fixed cost would dominate: no shared track or detection means every
        # pair is alone; otherwise one small assignment is exact and cheap.
        nt, nd = len(np.unique(t)), len(np.unique(d))
        if nt == len(t) and nd == len(d):
            return t.copy(), d.copy()
        # One dense assignment over everything is exact too (the components are independent
        # blocks of it) and, up to DENSE_CELLS, cheaper than finding the components.
        if len(t) <= 64 or nt * (nd + nt) <= DENSE_CELLS:
            return self._solve(t, d, cost)
        graph = coo_matrix((np.ones(len(t), np.int8), (t, n_tracks + d)),
                           shape=(n_tracks + n_dets, n_tracks + n_dets))
        _, label = connected_components(graph, directed=False)
        comp = label[t]
        edges_in = np.bincount(comp)
        lone = edges_in[comp] == 1
        out_t = [t[lone]]
        out_d = [d[lone]]
        rest = np.flatnonzero(~lone)
        if len(rest):
            rest = rest[np.argsort(comp[rest], kind="stable")]
            rc = comp[rest]
            cuts = np.flatnonzero(np.diff(rc)) + 1
            for grp in np.split(rest, cuts):
                at, ad = self._solve(t[grp], d[grp], cost[grp])
                out_t.append(at)
                out_d.append(ad)
        return np.concatenate(out_t), np.concatenate(out_d)

    def _solve(self, t: np.ndarray, d: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tu, ti = np.unique(t, return_inverse=True)
        du, di = np.unique(d, return_inverse=True)
        nt, nd = len(tu), len(du)
        big = self.missed_cost * 1e6 + 1e6
        mat = np.full((nt, nd + nt), big)
        mat[ti, di] = cost
        mat[np.arange(nt), nd + np.arange(nt)] = self.missed_cost
        rows, cols = linear_sum_assignment(mat)
        ok = cols < nd
        ok &= mat[rows, cols] < big
        return tu[rows[ok]], du[cols[ok]]
