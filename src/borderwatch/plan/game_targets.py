"""The patrol game's targets and payoffs, from the border's weighted crossing cells.

Targets are stretches of `cell_km` along the line (ordered north to south, so
a patrol's contiguous stretch is a window of consecutive targets). For a
target t with crossing value V_t (its share of the threat-weighted crossing
cells) and tower detection q_t (tower detection probability × the share of
its weight a chosen tower sees), a crossing succeeds unnoticed with
probability (1 − q_t) without a patrol and (1 − q_t)(1 − p) with one (p: the
patrol's catch probability). Payoffs are zero-sum in that success:

    attacker uncovered =  V_t (1 − q_t)        attacker covered =  V_t (1 − q_t)(1 − p)
    defender uncovered = −V_t (1 − q_t)        defender covered = −V_t (1 − q_t)(1 − p)

so the game's equilibrium minimises the best crossing the adversary can find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from borderwatch.errors import BorderwatchError


@dataclass(frozen=True, slots=True)
class GameTargets:
    start_km: np.ndarray
    end_km: np.ndarray
    value: np.ndarray              # V_t, sums to 1
    tower_detection: np.ndarray    # q_t
    att_covered: np.ndarray
    att_uncovered: np.ndarray
    def_covered: np.ndarray
    def_uncovered: np.ndarray
    catch_probability: float

    def __len__(self) -> int:
        return len(self.value)

    @property
    def mid_km(self) -> np.ndarray:
        return (self.start_km + self.end_km) / 2.0


def game_targets(cell_chainage_km: np.ndarray, cell_weight: np.ndarray, cell_seen: np.ndarray,
                 line_km: float, *, cell_km: float, tower_detection: float,
                 catch_probability: float, floor: float = 1e-9) -> GameTargets:
    """Aggregate crossing cells into `cell_km` targets and price them."""
    if not cell_km > 0:
        raise BorderwatchError(f"game target length must be > 0 km, got {cell_km:g}")
    if not 0 < catch_probability <= 1:
        raise BorderwatchError(f"patrol catch probability must be in (0, 1], got {catch_probability:g}")
    n = max(1, int(np.ceil(line_km / cell_km - 1e-9)))
    edges = np.linspace(0.0, line_km, n + 1)
    idx = np.clip(np.searchsorted(edges, cell_chainage_km, side="right") - 1, 0, n - 1)
    value = np.bincount(idx, weights=cell_weight, minlength=n)
    seen = np.bincount(idx, weights=cell_weight * cell_seen, minlength=n)
    # A target nobody would use still gets a sliver of value, so payoffs stay strict.
    value = np.maximum(value, floor)
    value = value / value.sum()
    q = tower_detection * np.clip(seen / value, 0.0, 1.0)
    success = value * (1.0 - q)
    p = catch_probability
    return GameTargets(
        start_km=edges[:-1], end_km=edges[1:], value=value, tower_detection=q,
        att_covered=success * (1.0 - p), att_uncovered=success,
        def_covered=-success * (1.0 - p), def_uncovered=-success, catch_probability=p,
    )


def uniform_coverage(n: int, units: int, window: int) -> np.ndarray:
    """Marginal coverage of `units` patrols spread evenly, each over `window` targets."""
    if n == 0:
        return np.zeros(0)
    starts = np.floor(np.linspace(0, max(n - window, 0), units)).astype(int) if units else np.zeros(0, int)
    cov = np.zeros(n)
    for s in starts:  # units is small (tens): one slice each
        cov[s:s + window] += 1.0
    return np.minimum(cov, 1.0)


def attacker_value(targets: GameTargets, coverage: np.ndarray, extra_detection: np.ndarray | None = None):
    """Attacker's expected payoff at each target under `coverage` (and e.g. air detection)."""
    success = targets.att_uncovered * (1.0 - targets.catch_probability * coverage)
    if extra_detection is not None:
        success = success * (1.0 - extra_detection)
    return success
