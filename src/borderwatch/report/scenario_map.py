"""A static PNG map of a scenario: terrain, border, sectors, sources, crossings.

Drawn in the scenario's local projection (km), so distances on the page are
true and the scale bar is honest. Synthetic terrain is labelled as such on
the map itself, not only in a caption that might get cropped.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LightSource  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from borderwatch.errors import BorderwatchError  # noqa: E402
from borderwatch.files import atomic_path  # noqa: E402
from borderwatch.geo import Border, Terrain  # noqa: E402
from borderwatch.scenario.model import Scenario  # noqa: E402

_BORDER = "#b2182b"
_SOURCE = "#6a0dad"
_CROSSING = "#111111"
_SEEN = "#4dac26"


def draw_scenario_map(scenario: Scenario, output: str | Path, *, dpi: int = 150,
                      border: Border | None = None, terrain: Terrain | None = None,
                      towers=None, plan=None) -> Path:
    """Render the scenario map to `output` (PNG); returns the path written.

    With `towers` (a `TowerPlan`) the map also shows the sites, the stretches
    of the line they see and the blind stretches; with `plan` (a whole `Plan`)
    also the patrol coverage along the line and the air orbits.
    """
    if plan is not None and towers is None:
        towers = plan.towers
    output = Path(output)
    if output.suffix.lower() != ".png":
        raise BorderwatchError(f"{output}: the map is written as PNG; give a .png file name")
    border = border or Border.from_scenario(scenario)
    if terrain is None and scenario.terrain is not None:
        terrain = Terrain.from_scenario(scenario)
    fig = _figure(scenario, border, terrain, towers, plan)
    _write_atomically(fig, output, dpi)
    plt.close(fig)
    return output


def _extent(scenario: Scenario, border: Border) -> tuple[float, float, float, float]:
    src = scenario.threat_sources
    sx, sy = border.projection.to_xy([s.location.lon for s in src], [s.location.lat for s in src])
    xs = np.concatenate([border.xy[:, 0], sx]) / 1000.0
    ys = np.concatenate([border.xy[:, 1], sy]) / 1000.0
    pad = max(10.0, 0.08 * max(np.ptp(xs), np.ptp(ys)))
    x0, x1, y0, y1 = xs.min() - pad, xs.max() + pad, ys.min() - pad, ys.max() + pad
    return x0, x1, y0, y1


def _figure(scenario: Scenario, border: Border, terrain: Terrain | None, towers=None, plan=None):
    x0, x1, y0, y1 = _extent(scenario, border)
    aspect = (y1 - y0) / (x1 - x0)
    width = 10.0
    fig, ax = plt.subplots(figsize=(width, min(14.0, max(6.0, width * aspect * 0.92))))
    ax.set_facecolor("#f2efe9")
    if terrain is not None:
        _draw_terrain(fig, ax, terrain)
    _draw_graticule(ax, border, (x0, x1, y0, y1))
    bx, by = border.xy[:, 0] / 1000.0, border.xy[:, 1] / 1000.0
    ax.plot(bx, by, color="white", lw=4.5, zorder=4, solid_capstyle="round")
    ax.plot(bx, by, color=_BORDER, lw=2.2, zorder=5, solid_capstyle="round")
    if towers is not None:
        _draw_towers(ax, border, towers)
    if plan is not None:
        _draw_plan(fig, ax, border, plan, (x0, x1, y0, y1))
    _draw_sectors(ax, border, (x0, x1, y0, y1))
    _draw_side_labels(ax, border, (x0, x1, y0, y1))
    _draw_sources(ax, scenario, border)
    _draw_crossings(ax, scenario, border)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("easting (km, local transverse Mercator)")
    ax.set_ylabel("northing (km)")
    _scale_bar(ax, (x0, x1, y0, y1))
    _north_arrow(ax)
    title = f"{scenario.title}\n{border.geodesic_length_km:.0f} km border, {len(border.sectors)} sectors, " \
            f"{scenario.headcount:,} people at {len(scenario.threat_sources)} sources"
    if towers is not None:
        gap = "proven optimal" if towers.optimal else f"gap ≤ {100 * towers.gap:.2f}%"
        title += (f"\n{len(towers.sites)} towers: {100 * towers.coverage:.1f}% of weighted crossings seen "
                  f"({gap}); {towers.line_seen_km:.0f} of {towers.line_km:.0f} km of line in view")
    if plan is not None:
        title += (f"\nbest crossing left to the adversary: {100 * plan.attacker_best:.2f} "
                  f"(vs {100 * plan.attacker_best_uniform:.2f} with patrols spread evenly)")
    ax.set_title(title, fontsize=10 if plan is not None else 11)
    _legend(ax, terrain, towers, plan)
    fig.tight_layout()
    return fig


def _draw_terrain(fig, ax, terrain: Terrain) -> None:
    z = terrain.elevation
    b = terrain.bounds
    extent = (b.left / 1000.0, b.right / 1000.0, b.bottom / 1000.0, b.top / 1000.0)
    valid = np.isfinite(z)
    if not valid.any():
        return
    lo, hi = np.nanpercentile(z, 1), np.nanmax(z)
    filled = np.where(valid, z, lo)
    ls = LightSource(azdeg=315, altdeg=40)
    cmap = plt.get_cmap("gist_earth")
    norm = plt.Normalize(lo - 0.15 * (hi - lo), hi + 0.05 * (hi - lo))
    rgb = ls.shade(filled, cmap=cmap, norm=norm, blend_mode="soft",
                   vert_exag=3.0, dx=terrain.resolution_m[0], dy=terrain.resolution_m[1])
    rgb[..., 3] = np.where(valid, 0.9, 0.0)
    ax.imshow(rgb, extent=extent, origin="upper", zorder=1, interpolation="bilinear")
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    label = "elevation (m), SYNTHETIC DEM" if terrain.synthetic else "elevation (m)"
    cb = fig.colorbar(mappable, ax=ax, shrink=0.55, pad=0.02)
    cb.set_label(label)


def _draw_graticule(ax, border: Border, box) -> None:
    """Meridians and parallels every degree, so readers can place the map."""
    x0, x1, y0, y1 = box
    corners_x = np.array([x0, x1, x0, x1]) * 1000.0
    corners_y = np.array([y0, y0, y1, y1]) * 1000.0
    lon, lat = border.projection.to_lonlat(corners_x, corners_y)
    step = 1.0 if max(np.ptp(lon), np.ptp(lat)) > 1.5 else 0.1
    fmt = "{:.0f}" if step == 1.0 else "{:.1f}"
    for value in np.arange(np.floor(lon.min() / step) * step, lon.max() + step, step):
        lats = np.linspace(lat.min() - step, lat.max() + step, 50)
        gx, gy = border.projection.to_xy(np.full_like(lats, value), lats)
        ax.plot(gx / 1000.0, gy / 1000.0, color="#555555", lw=0.4, alpha=0.5, zorder=2)
        ax.text(np.interp(y0 + 0.01 * (y1 - y0), gy / 1000.0, gx / 1000.0), y0 + 0.01 * (y1 - y0),
                fmt.format(value) + "°E", fontsize=6.5, color="#333333", ha="center", zorder=2,
                clip_on=True)
    for value in np.arange(np.floor(lat.min() / step) * step, lat.max() + step, step):
        lons = np.linspace(lon.min() - step, lon.max() + step, 50)
        gx, gy = border.projection.to_xy(lons, np.full_like(lons, value))
        ax.plot(gx / 1000.0, gy / 1000.0, color="#555555", lw=0.4, alpha=0.5, zorder=2)
        ax.text(x0 + 0.01 * (x1 - x0), np.interp(x0 + 0.01 * (x1 - x0), gx / 1000.0, gy / 1000.0),
                fmt.format(value) + "°N", fontsize=6.5, color="#333333", va="bottom", zorder=2,
                clip_on=True)


def _draw_sectors(ax, border: Border, box) -> None:
    size = 0.012 * max(box[1] - box[0], box[3] - box[2])
    edges = np.append(border.sectors.start_km, border.sectors.end_km[-1])
    ex, ey = border.point_at(edges)
    n = border.own_normal_at(edges)
    for x, y, (nx, ny) in zip(ex / 1000.0, ey / 1000.0, n):
        ax.plot([x - nx * size, x + nx * size], [y - ny * size, y + ny * size],
                color="black", lw=0.9, zorder=6)
    mids = (border.sectors.start_km + border.sectors.end_km) / 2.0
    mx, my = border.point_at(mids)
    mn = border.own_normal_at(mids)
    every = max(1, len(mids) // 30)
    for i in range(0, len(mids), every):
        ax.text(mx[i] / 1000.0 + mn[i, 0] * size * 2.2, my[i] / 1000.0 + mn[i, 1] * size * 2.2,
                str(i + 1), fontsize=6, ha="center", va="center", zorder=6,
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))


def _draw_side_labels(ax, border: Border, box) -> None:
    km = border.length_km * 0.62
    (x,), (y,) = border.point_at([km])
    (nx, ny), = border.own_normal_at([km])
    off = 0.1 * max(box[1] - box[0], box[3] - box[2])
    style = dict(fontsize=13, fontweight="bold", ha="center", va="center", zorder=7, alpha=0.8)
    ax.text(x / 1000.0 + nx * off, y / 1000.0 + ny * off, border.own.upper(), color="#1a3d6d", **style)
    ax.text(x / 1000.0 - nx * off, y / 1000.0 - ny * off, border.foreign.upper(), color="#5a1a1a", **style)


def _draw_sources(ax, scenario: Scenario, border: Border) -> None:
    src = scenario.threat_sources
    sx, sy = border.projection.to_xy([s.location.lon for s in src], [s.location.lat for s in src])
    heads = np.array([s.headcount for s in src], float)
    sizes = 40.0 + 360.0 * np.sqrt(heads / heads.max())
    ax.scatter(sx / 1000.0, sy / 1000.0, s=sizes, color=_SOURCE, alpha=0.55,
               edgecolor="white", lw=1.0, zorder=8)
    for s, x, y in zip(src, sx / 1000.0, sy / 1000.0):
        short = s.name.split(",")[0].split(" (")[0]
        ax.annotate(f"{short}\n{s.headcount:,}", (x, y), xytext=(6, -4), textcoords="offset points",
                    fontsize=6.5, color="#2b0040", zorder=9,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))


def _draw_crossings(ax, scenario: Scenario, border: Border) -> None:
    if not scenario.crossings:
        return
    c = scenario.crossings
    cx, cy = border.projection.to_xy([k.location.lon for k in c], [k.location.lat for k in c])
    ax.scatter(cx / 1000.0, cy / 1000.0, marker="D", s=42, color="#ffd92f", edgecolor=_CROSSING,
               lw=1.0, zorder=9)
    for k, x, y in zip(c, cx / 1000.0, cy / 1000.0):
        ax.annotate(k.name, (x, y), xytext=(-6, 6), textcoords="offset points", ha="right",
                    fontsize=6.5, zorder=9,
                    bbox=dict(boxstyle="round,pad=0.15", fc="#fff8cc", ec="none", alpha=0.8))


def _scale_bar(ax, box) -> None:
    x0, x1, y0, y1 = box
    span = x1 - x0
    nice = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500]
    length = max(v for v in nice if v <= span * 0.25)
    bx = x1 - 0.05 * span - length
    by = y0 + 0.05 * (y1 - y0)
    h = 0.008 * (y1 - y0)
    ax.add_patch(plt.Rectangle((bx, by), length / 2, h, fc="black", ec="black", zorder=10))
    ax.add_patch(plt.Rectangle((bx + length / 2, by), length / 2, h, fc="white", ec="black", zorder=10))
    for pos, lab in [(bx, "0"), (bx + length / 2, f"{length / 2:g}"), (bx + length, f"{length:g} km")]:
        ax.text(pos, by + 2.2 * h, lab, ha="center", va="bottom", fontsize=7, zorder=10)


def _north_arrow(ax) -> None:
    ax.annotate("N", xy=(0.95, 0.95), xytext=(0.95, 0.87), xycoords="axes fraction",
                ha="center", va="center", fontsize=10, fontweight="bold",
                arrowprops=dict(arrowstyle="-|>", color="black", lw=1.5), zorder=10)


def _draw_towers(ax, border: Border, plan) -> None:
    """Blind stretches in black, seen stretches in green, towers as triangles with range rings."""
    for a, b in plan.blind_stretches_km:
        km = np.linspace(a, b, max(2, int((b - a) / 0.25) + 1))
        x, y = border.point_at(km)
        ax.plot(x / 1000.0, y / 1000.0, color="black", lw=6.0, zorder=5.5, solid_capstyle="butt")
    for site in plan.sites:
        for a, b in site.visible_stretches_km:
            km = np.linspace(a, b, max(2, int((b - a) / 0.25) + 1))
            x, y = border.point_at(km)
            ax.plot(x / 1000.0, y / 1000.0, color=_SEEN, lw=4.0, zorder=5.6, solid_capstyle="butt")
    xs = np.array([s.x for s in plan.sites]) / 1000.0
    ys = np.array([s.y for s in plan.sites]) / 1000.0
    for x, y in zip(xs, ys):
        ax.add_patch(plt.Circle((x, y), plan.range_km, fill=False, ec=_SEEN, lw=0.4, alpha=0.5, zorder=3))
    ax.scatter(xs, ys, marker="^", s=28, color="#1b7837", edgecolor="white", lw=0.6, zorder=9)


def _draw_plan(fig, ax, border: Border, plan, box) -> None:
    """Patrol coverage as a coloured band just inside the line; orbits as racetracks."""
    from matplotlib.collections import LineCollection

    if plan.patrols is not None:
        start = plan.targets_start_km
        step = plan.patrols.target_km
        km = np.concatenate([start, [min(start[-1] + step, border.length_km)]])
        off = 0.012 * max(box[1] - box[0], box[3] - box[2]) * 1000.0
        x, y = border.point_at(km)
        n = border.own_normal_at(km)
        px, py = (x + n[:, 0] * off) / 1000.0, (y + n[:, 1] * off) / 1000.0
        segs = np.stack([np.column_stack([px[:-1], py[:-1]]), np.column_stack([px[1:], py[1:]])], axis=1)
        lc = LineCollection(segs, cmap="plasma", norm=plt.Normalize(0, 1), linewidths=3.5, zorder=5.7)
        lc.set_array(plan.patrols.coverage)
        ax.add_collection(lc)
        cax = ax.inset_axes([0.62, 0.14, 0.33, 0.014])
        cb = fig.colorbar(lc, cax=cax, orientation="horizontal")
        cb.set_label("patrol coverage (probability per shift)", fontsize=7)
        cb.ax.tick_params(labelsize=6)
    for o in plan.orbits:
        ax.add_patch(plt.Circle((o.x / 1000.0, o.y / 1000.0), 12.5, fill=False, ec="#2166ac", lw=1.6,
                                ls="--", zorder=8))
        ax.annotate(f"{o.id}", (o.x / 1000.0, o.y / 1000.0), xytext=(10, 8), textcoords="offset points",
                    fontsize=8, color="#2166ac", fontweight="bold", zorder=9)


def _legend(ax, terrain: Terrain | None, towers=None, plan=None) -> None:
    handles = [
        Line2D([], [], color=_BORDER, lw=2.2, label="border (Natural Earth 1:10m)"),
        Line2D([], [], color="black", lw=0.9, marker="|", ms=8, ls="none", label="sector boundary (numbered)"),
        Line2D([], [], marker="o", color=_SOURCE, alpha=0.55, ls="none", ms=9, label="threat source (people)"),
        Line2D([], [], marker="D", color="#ffd92f", markeredgecolor="black", ls="none", ms=6,
               label="official crossing"),
    ]
    if towers is not None:
        handles += [
            Line2D([], [], marker="^", color="#1b7837", ls="none", ms=7,
                   label=f"watchtower ({towers.mast_height_m:g} m mast, {towers.range_km:g} km ring)"),
            Line2D([], [], color=_SEEN, lw=4.0, label="line seen by a tower"),
            Line2D([], [], color="black", lw=5.0, label="blind stretch"),
        ]
    if plan is not None:
        handles += [
            Line2D([], [], color="#cc4778", lw=3.5, label="patrol coverage (colour scale, lower right)"),
            Line2D([], [], marker="o", mfc="none", mec="#2166ac", ls="none", ms=10,
                   label="24-hour air orbit"),
        ]
    if terrain is not None:
        label = "terrain: SYNTHETIC DEM (not measured)" if terrain.synthetic else f"terrain: {terrain.label}"
        handles.append(Line2D([], [], marker="s", color="#8c7b5a", ls="none", ms=8, label=label))
    ax.legend(handles=handles, loc="upper left", fontsize=7, framealpha=0.85)


def _write_atomically(fig, output: Path, dpi: int) -> None:
    with atomic_path(output, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
