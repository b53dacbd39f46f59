"""Simulated input for the tracker benchmark: targets, detections and clutter, columnar.

The scenario the issue asks for, the same for every tracker that reads it:

- ``n`` targets placed uniformly in a square of ``n`` km² (one target per
  km²), all alive from scan 0 to the last; no births, no deaths, no
  boundary (a target may walk out of the square and stays observed).
- Speeds uniform in 1–15 m/s (walkers to vehicles), headings uniform; then
  nearly-constant velocity: per axis the exact discretisation of white
  acceleration noise with spectral density ``Q_DIFF = 0.05`` m²/s³,
  i.e. process noise ``q·[[dt³/3, dt²/2], [dt²/2, dt]]`` -- the same ``q``
  the trackers under test are given (Stone Soup's ``ConstantVelocity(0.05)``).
- Every scan, each target is detected with probability ``PD = 0.9``; a
  detection is its true position plus N(0, σ²) per axis, σ = 10 m.
- Clutter: Poisson(10) detections per scan, uniform over the square.
- ``N_SCANS = 60`` scans ``DT = 1`` s apart, starting at t = 0.

Everything is vectorised NumPy (one array per scan, no object per target),
seeded, so a given ``(n, seed)`` always gives the same input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Q_DIFF = 0.05          # m²/s³, white-acceleration spectral density per axis
SIGMA_M = 10.0         # measurement noise, metres per axis
PD = 0.9               # detection probability
CLUTTER_PER_SCAN = 10.0
N_SCANS = 60
DT = 1.0               # s
SPEED_MPS = (1.0, 15.0)
DENSITY_PER_KM2 = 1.0


@dataclass(frozen=True)
class Scan:
    """One scan: the truth (every target) and what the sensor reported."""

    t: float
    truth_id: np.ndarray    # int64 (n,)
    truth_xy: np.ndarray    # float64 (n, 2), metres
    det_xy: np.ndarray      # float64 (k, 2): detections of targets, then clutter, shuffled
    det_truth: np.ndarray   # int64 (k,): the target a detection came from, -1 for clutter


@dataclass(frozen=True)
class Scenario:
    n_targets: int
    side_m: float
    seed: int
    scans: list[Scan]

    @property
    def n_detections(self) -> int:
        return sum(len(s.det_xy) for s in self.scans)


def simulate(n_targets: int, n_scans: int = N_SCANS, seed: int = 0, dt: float = DT,
             q: float = Q_DIFF, sigma_m: float = SIGMA_M, pd: float = PD,
             clutter: float = CLUTTER_PER_SCAN) -> Scenario:
    """The benchmark input for ``n_targets`` targets (see the module docstring)."""
    rng = np.random.default_rng([seed, n_targets])
    side = float(np.sqrt(n_targets / DENSITY_PER_KM2) * 1000.0)
    n = int(n_targets)
    ids = np.arange(n, dtype=np.int64)
    pos = rng.uniform(0.0, side, (n, 2))
    speed = rng.uniform(*SPEED_MPS, n)
    heading = rng.uniform(0.0, 2 * np.pi, n)
    vel = np.column_stack([speed * np.cos(heading), speed * np.sin(heading)])
    # Cholesky factor of q·[[dt³/3, dt²/2], [dt²/2, dt]], shared by both axes.
    chol = np.linalg.cholesky(q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]]))
    scans: list[Scan] = []
    for k in range(n_scans):
        if k:
            w = rng.standard_normal((2, n, 2)) @ chol.T       # [axis] -> (n, (pos, vel))
            pos = pos + dt * vel + np.column_stack([w[0][:, 0], w[1][:, 0]])
            vel = vel + np.column_stack([w[0][:, 1], w[1][:, 1]])
        seen = np.flatnonzero(rng.random(n) < pd)
        meas = pos[seen] + rng.normal(0.0, sigma_m, (seen.size, 2))
        n_clutter = int(rng.poisson(clutter))
        fake = rng.uniform(0.0, side, (n_clutter, 2))
        det = np.vstack([meas, fake])
        src = np.concatenate([seen.astype(np.int64), np.full(n_clutter, -1, np.int64)])
        order = rng.permutation(len(det))
        scans.append(Scan(t=k * dt, truth_id=ids, truth_xy=pos.copy(),
                          det_xy=det[order], det_truth=src[order]))
    return Scenario(n_targets=n, side_m=side, seed=seed, scans=scans)


if __name__ == "__main__":
    import time

    for n in (50, 1_000, 100_000):
        t0 = time.perf_counter()
        sc = simulate(n)
        print(f"{n:>7,} targets, square {sc.side_m / 1000:.1f} km, {len(sc.scans)} scans, "
              f"{sc.n_detections:,} detections, generated in {time.perf_counter() - t0:.2f} s")
