"""Constant-velocity Kalman Predictor and Updater over every track at once.

State per track is (x, y, vx, vy) in local metres and m/s. The motion model
is the nearly-constant-velocity model with continuous white-noise
acceleration of spectral density q (m²/s³) per axis (Bar-Shalom, Li &
Kirubarajan, *Estimation with Applications to Tracking and Navigation*,
2001, §6.2.2). q ≈ 0.05–0.1 suits people on foot (they stroll, stop, turn);
q ≈ 1–2 suits vehicles off road.

Both steps are written out block by block for 2x2 blocks so that 100,000
tracks cost a handful of vectorised NumPy operations, with no per-track
matrix objects and no batched 4x4 matmul.
"""

from __future__ import annotations

import numpy as np


def cv_predict(state: np.ndarray, cov: np.ndarray, dt: np.ndarray, q: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Predict states (n, 4) and covariances (n, 4, 4) forward by dt (n,) seconds.

    Returns new arrays; the inputs are not modified.
    """
    dt = np.asarray(dt, float)
    s = state.copy()
    s[:, 0] += dt * state[:, 2]
    s[:, 1] += dt * state[:, 3]
    a = cov[:, :2, :2]
    b = cov[:, :2, 2:]
    c = cov[:, 2:, 2:]
    d = dt[:, None, None]
    bt = b.transpose(0, 2, 1)
    p = np.empty_like(cov)
    p[:, :2, :2] = a + d * (b + bt) + d * d * c
    p[:, :2, 2:] = b + d * c
    p[:, 2:, :2] = bt + d * c
    p[:, 2:, 2:] = c
    # Process noise: q·[[dt³/3, dt²/2], [dt²/2, dt]] on each axis.
    q3, q2, q1 = q * dt ** 3 / 3.0, q * dt ** 2 / 2.0, q * dt
    for i in (0, 1):
        p[:, i, i] += q3
        p[:, i, i + 2] += q2
        p[:, i + 2, i] += q2
        p[:, i + 2, i + 2] += q1
    return s, p


def innovation_cov(cov: np.ndarray, meas_cov: np.ndarray) -> np.ndarray:
    """S = H P Hᵀ + R for a position measurement: (k, 2, 2)."""
    return cov[:, :2, :2] + meas_cov


def inv2(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and determinants of (k, 2, 2) matrices, in closed form."""
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    inv = np.empty_like(m)
    inv[:, 0, 0] = m[:, 1, 1] / det
    inv[:, 1, 1] = m[:, 0, 0] / det
    inv[:, 0, 1] = -m[:, 0, 1] / det
    inv[:, 1, 0] = -m[:, 1, 0] / det
    return inv, det


def mahalanobis2(nu: np.ndarray, s_inv: np.ndarray) -> np.ndarray:
    """νᵀ S⁻¹ ν for innovations ν (k, 2)."""
    return (nu[:, 0] * (s_inv[:, 0, 0] * nu[:, 0] + s_inv[:, 0, 1] * nu[:, 1])
            + nu[:, 1] * (s_inv[:, 1, 0] * nu[:, 0] + s_inv[:, 1, 1] * nu[:, 1]))


def position_update(state: np.ndarray, cov: np.ndarray, z: np.ndarray, meas_cov: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update of k tracks with one position measurement each.

    state (k, 4), cov (k, 4, 4), z (k, 2), meas_cov (k, 2, 2); returns the
    posterior (state, cov) as new arrays. The covariance uses the Joseph form
    (I−KH)P(I−KH)ᵀ + KRKᵀ so that it stays symmetric positive definite over
    long runs in float64.
    """
    s = innovation_cov(cov, meas_cov)
    s_inv, _ = inv2(s)
    pht = cov[:, :, :2]                                   # P Hᵀ, (k, 4, 2)
    gain = np.einsum("kij,kjl->kil", pht, s_inv)          # (k, 4, 2)
    nu = z - state[:, :2]
    new_state = state + np.einsum("kij,kj->ki", gain, nu)
    # I - K H, with H = [I 0]
    ikh = np.broadcast_to(np.eye(4), cov.shape).copy()
    ikh[:, :, :2] -= gain
    p = ikh @ cov @ ikh.transpose(0, 2, 1)
    p += gain @ meas_cov @ gain.transpose(0, 2, 1)
    p = 0.5 * (p + p.transpose(0, 2, 1))
    return new_state, p
