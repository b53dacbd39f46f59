"""A Gantt chart of a daily air-surveillance roster (PNG).

One row per tail: transit out, time on station (coloured by orbit), transit
back and, when the aircraft types are given, the turnaround after landing.
Below, one row per orbit: when it is covered (green) and its gaps (red). The
axis is the roster's cycle (0-24 h); anything past the end of the cycle is
drawn from 00:00 again, since the roster repeats every day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from borderwatch.errors import BorderwatchError  # noqa: E402
from borderwatch.plan.roster import AircraftType, Orbit, Roster, coverage_gaps  # noqa: E402

_TRANSIT = "#9e9e9e"
_TURN = "#d9d9d9"
_COVER = "#4dac26"
_GAP = "#d7191c"


def draw_roster_gantt(roster: Roster, orbits: Sequence[Orbit], path: str | Path, *, title: str = "",
                      aircraft: Sequence[AircraftType] | None = None, dpi: int = 130) -> Path:
    """Draw the roster to `path` (PNG) and return the path written.

    ``aircraft`` (optional) adds each type's turnaround after every landing.
    The file is written to a temporary name beside `path` and renamed, so a
    reader never sees half a PNG.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise BorderwatchError(f"{path}: the roster chart is written as PNG; give a .png file name")
    H = float(roster.horizon_h)
    tails = roster.tails()
    known = {o.id for o in orbits}
    orbit_ids = [o.id for o in orbits] + sorted({s.orbit for s in roster.sorties} - known)
    # Orbit colours from tab20 without its greens and reds, which mean covered / gap here.
    tab = plt.get_cmap("tab20")
    palette = [tab(i) for i in (0, 2, 8, 16, 18, 10, 12, 14, 1, 3, 9, 17, 19, 11, 13, 15)]
    colour = {oid: palette[i % len(palette)] for i, oid in enumerate(orbit_ids)}
    turn = {a.id: a.turnaround_h for a in (aircraft or ())}

    n_rows = len(tails) + len(orbit_ids)
    fig, ax = plt.subplots(figsize=(12, max(3.0, 0.32 * n_rows + 1.6)))
    row_of = {t: i for i, t in enumerate(tails)}
    for s in roster.sorties:
        y = row_of[s.aircraft]
        _bar(ax, y, s.takeoff_h, s.on_station_h, H, _TRANSIT, 0.5)
        _bar(ax, y, s.on_station_h, s.off_station_h, H, colour[s.orbit], 0.8)
        _bar(ax, y, s.off_station_h, s.landing_h, H, _TRANSIT, 0.5)
        g = turn.get(s.type_id, 0.0)
        if g > 0:
            _bar(ax, y, s.landing_h, s.landing_h + g, H, _TURN, 0.35, hatch="///")
        if s.off_station_h - s.on_station_h >= 1.2:
            mid = ((s.on_station_h + s.off_station_h) / 2) % H
            ax.text(mid, y, s.orbit, ha="center", va="center", fontsize=6, color="black", clip_on=True)
    base = len(tails)
    by_orbit: dict[str, list[tuple[float, float]]] = {oid: [] for oid in orbit_ids}
    for s in roster.sorties:
        by_orbit[s.orbit].append((s.on_station_h, s.off_station_h))
    for j, oid in enumerate(orbit_ids):
        y = base + j
        for a, b in by_orbit[oid]:
            _bar(ax, y, a, b, H, _COVER, 0.8)
        for a, b in coverage_gaps(by_orbit[oid], H):
            _bar(ax, y, a, b, H, _GAP, 0.8)
    if tails and orbit_ids:
        ax.axhline(base - 0.5, color="black", lw=0.8)
    ax.set_yticks(range(n_rows))
    ax.set_yticklabels(list(tails) + [f"orbit {oid}" for oid in orbit_ids], fontsize=7)
    ax.set_ylim(n_rows - 0.5, -0.5)
    ax.set_xlim(0, H)
    step = 2 if H <= 24 else max(2, int(round(H / 12)))
    ax.set_xticks([t for t in range(0, int(H) + 1, step)])
    ax.set_xlabel("hour of the day (the roster repeats every %g h)" % H)
    ax.grid(axis="x", color="#dddddd", lw=0.5)
    ax.set_axisbelow(True)
    status = "covers every orbit" if roster.feasible else "GAPS: does not cover every orbit"
    ax.set_title((title + "\n" if title else "")
                 + f"{roster.aircraft_used} aircraft (lower bound {roster.lower_bound}), {status}",
                 fontsize=10)
    handles = [Patch(color=colour[o], label=o) for o in orbit_ids[:20]]
    handles += [Patch(color=_TRANSIT, label="transit"), Patch(color=_COVER, label="covered"),
                Patch(color=_GAP, label="gap")]
    if turn:
        handles.insert(len(handles) - 2, Patch(facecolor=_TURN, hatch="///", label="turnaround"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    fig.tight_layout()
    _write_atomically(fig, path, dpi)
    plt.close(fig)
    return path


def _bar(ax, y: float, a: float, b: float, H: float, colour, height: float, hatch: str | None = None) -> None:
    """A bar from a to b hours, wrapped onto [0, H) (split in two across midnight)."""
    if b <= a:
        return
    if b - a >= H:
        ax.broken_barh([(0, H)], (y - height / 2, height), facecolors=colour, hatch=hatch, lw=0)
        return
    a0 = a % H
    b0 = a0 + (b - a)
    spans = [(a0, min(b0, H) - a0)]
    if b0 > H:
        spans.append((0.0, b0 - H))
    ax.broken_barh(spans, (y - height / 2, height), facecolors=colour, hatch=hatch,
                   edgecolor="#777777" if hatch else None, lw=0)


def _write_atomically(fig, output: Path, dpi: int) -> None:
    from borderwatch.files import atomic_path

    with atomic_path(output, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")