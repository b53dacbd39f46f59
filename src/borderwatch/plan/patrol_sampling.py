"""Daily patrol assignments drawn from an equilibrium coverage, with exact marginals.

The Stackelberg solvers (`borderwatch.plan.stackelberg`) give *marginals*: the
probability each target (or each patrol window) is covered on a given day.
The patrols of one day must be a concrete set whose marginals are exactly
those, drawn afresh (and unpredictably) each day, yet reproducible from a
seed so that a plan can be audited.

Systematic ("comb") sampling does this in one pass (Madow, "On the theory of
systematic sampling, II", Ann. Math. Statist. 20, 1949): lay the marginals
end to end on ``[0, S)``, ``S = sum p``, and throw a comb of teeth spaced 1
apart at a uniform offset ``u`` in ``[0, 1)``; item ``i`` is picked when a
tooth lands in its segment. A segment of length ``p_i <= 1`` holds at most one
tooth, and holds one with probability exactly ``p_i``; the number of teeth,
``ceil(S - u)``, is ``floor(S)`` or ``ceil(S)``.

Order matters for what is picked *together* (never for the marginals):

* `comb_sample` puts the items in a fresh random order every day by default,
  so that which items go together is not fixed by their order along the
  border (an observer who sees one patrol learns little about the others).
* `sample_window_patrols` keeps the stretches in order along the border, on
  purpose: the stretches containing a target are then consecutive, their
  segments (total length = the target's coverage, at most 1) are contiguous
  and hold at most one tooth, so no target is ever patrolled by two units on
  the same day, and each target is covered with probability exactly its
  equilibrium coverage, not only each stretch with its own probability. A
  shuffled comb would stack units on the same ground and cover less.
"""

from __future__ import annotations

import numpy as np

from borderwatch.errors import BorderwatchError

__all__ = ["comb_sample", "sample_window_patrols"]

_MARGINAL_TOL = 1e-9     # marginals this far outside [0, 1] are rounding, clipped


def _rng(rng_or_seed, name: str = "rng_or_seed") -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, bool) or not isinstance(rng_or_seed, (int, np.integer)):
        raise BorderwatchError(
            f"{name} = {rng_or_seed!r} must be an integer seed or a numpy Generator, so that "
            f"the patrols can be reproduced")
    if rng_or_seed < 0:
        raise BorderwatchError(f"{name} = {rng_or_seed} must be a non-negative integer seed")
    return np.random.default_rng(int(rng_or_seed))


def _check_days(days) -> int:
    if isinstance(days, bool) or not isinstance(days, (int, np.integer)) or days < 1:
        raise BorderwatchError(f"days = {days!r} must be a whole number of days, at least 1")
    return int(days)


def _check_marginals(marginals, name: str = "marginals") -> np.ndarray:
    try:
        p = np.asarray(marginals, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BorderwatchError(f"{name} must be an array of probabilities ({exc})") from None
    if p.ndim != 1:
        raise BorderwatchError(f"{name} must be a 1-D array, got shape {p.shape}")
    bad = ~((p >= -_MARGINAL_TOL) & (p <= 1 + _MARGINAL_TOL))      # NaN fails both
    if bad.any():
        i = int(np.argmax(bad))
        raise BorderwatchError(f"{name}[{i}] = {p[i]} must be a probability in [0, 1]")
    return np.clip(p, 0.0, 1.0)


def _comb(p: np.ndarray, rng: np.random.Generator, days: int, shuffle: bool) -> np.ndarray:
    n = len(p)
    out = np.zeros((days, n), dtype=bool)
    if n == 0:
        return out
    u = rng.random((days, 1))
    if shuffle:
        order = np.argsort(rng.random((days, n)), axis=1)
        cum = np.cumsum(p[order], axis=1)
    else:
        order = None
        cum = np.broadcast_to(np.cumsum(p), (days, n))
    # Teeth at u, u + 1, ...: ceil(C - u) of them lie below C; item i is picked when
    # that count steps up across its segment [C_{i-1}, C_i) (by at most 1, as p_i <= 1).
    teeth = np.ceil(cum - u)
    picked = np.diff(teeth, axis=1, prepend=0.0) > 0.5
    if order is None:
        return picked.copy()
    np.put_along_axis(out, order, picked, axis=1)
    return out


def comb_sample(marginals: np.ndarray, rng_or_seed, *, days: int = 1,
                shuffle: bool = True) -> np.ndarray:
    """Draw ``days`` sets of items, item ``i`` in each with probability ``marginals[i]``.

    Systematic (comb) sampling, see the module docstring: each day's set has
    ``floor(S)`` or ``ceil(S)`` distinct items (``S = sum(marginals)``; exactly
    ``S`` when it is a whole number), and ``P(i picked) = marginals[i]``
    exactly. Days are independent. With ``shuffle`` (default) the items are
    put in a random order each day first, so the joint choice is not tied to
    the items' order; the marginals are exact either way.

    ``rng_or_seed``: an integer seed (same seed, same draws) or a numpy
    ``Generator`` (advanced by the call). Returns a ``(days, n)`` bool array.
    Vectorised over days and items.
    """
    p = _check_marginals(marginals)
    d = _check_days(days)
    return _comb(p, _rng(rng_or_seed), d, bool(shuffle))


def sample_window_patrols(window_mix: np.ndarray, window: int, n_targets: int, units: int,
                          seed: int, days: int) -> np.ndarray:
    """Each unit's stretch for each day, drawn from an equilibrium window mix.

    ``window_mix[s]`` (from `solve_windows`) is the probability that some unit
    patrols the stretch of ``window`` targets starting at target ``s``; each
    day, the stretches are a comb sample of ``window_mix`` taken in border
    order (distinct, each with exactly its probability; see the module
    docstring for why in order: no two units ever overlap on a target whose
    coverage is at most 1, so every target is covered with probability exactly
    ``sum of window_mix over the stretches containing it``). They are handed
    to the ``units`` units in a random order; units beyond the day's stretches
    are idle. Returns a
    ``(days, units)`` int array: the first target of each unit's stretch, or
    ``-1`` for an idle unit. Reproducible from ``seed``.
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise BorderwatchError(f"window = {window!r} must be a whole number of targets, >= 1")
    if isinstance(n_targets, bool) or not isinstance(n_targets, (int, np.integer)) \
            or n_targets < window:
        raise BorderwatchError(
            f"n_targets = {n_targets!r} must be a whole number at least the window ({window})")
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
        raise BorderwatchError(f"units = {units!r} must be a whole number of patrol units, >= 1")
    x = _check_marginals(window_mix, "window_mix")
    n_win = int(n_targets) - int(window) + 1
    if len(x) != n_win:
        raise BorderwatchError(
            f"window_mix has {len(x)} entries but {n_targets} targets with a window of {window} "
            f"have {n_win} stretches")
    d = _check_days(days)
    total = float(x.sum())
    if total > units * (1 + _MARGINAL_TOL):
        raise BorderwatchError(
            f"window_mix asks for {total:.6g} units a day on average but only {units} units "
            f"are available")
    if total > units:                       # rounding only
        x = x * (units / total)
    rng = _rng(seed, "seed")
    picked = _comb(x, rng, d, False)                        # (days, n_win), border order
    # The day's stretches first (border order), idle slots (-1) after, then the
    # columns shuffled per day: which unit gets which stretch, or rests, is random.
    order = np.argsort(~picked, axis=1, kind="stable")[:, :units]
    taken = np.take_along_axis(picked, order, axis=1)
    starts = np.where(taken, order, -1).astype(np.int64)
    if starts.shape[1] < units:                             # more units than stretches
        starts = np.concatenate([starts, np.full((d, units - starts.shape[1]), -1, np.int64)],
                                axis=1)
    perm = np.argsort(rng.random((d, units)), axis=1)
    starts = np.take_along_axis(starts, perm, axis=1)
    return starts
