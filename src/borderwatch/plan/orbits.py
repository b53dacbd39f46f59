"""Where the 24-hour air orbits go: over the sectors with the most residual risk.

After towers and patrols, each border target keeps a residual risk (the
attacker's expected success there). Orbits are put over the `count` sectors
whose residual risk is largest, centred at the risk-weighted middle of the
sector, on the line itself (an aircraft's sensor swath straddles it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from borderwatch.geo import Border


@dataclass(frozen=True, slots=True)
class OrbitSite:
    id: str
    sector: int             # 0-based sector index
    chainage_km: float
    x: float
    y: float
    lon: float
    lat: float
    residual_risk: float    # share of the border's residual risk in this sector


def place_orbits(border: Border, target_mid_km: np.ndarray, residual: np.ndarray, count: int) -> tuple[OrbitSite, ...]:
    """The `count` orbits over the riskiest sectors, riskiest first."""
    if count <= 0:
        return ()
    sectors = border.sectors
    which = sectors.of(target_mid_km)
    risk = np.bincount(which, weights=residual, minlength=len(sectors))
    total = residual.sum() or 1.0
    order = np.argsort(-risk, kind="stable")[:min(count, len(sectors))]
    out = []
    for rank, s in enumerate(order, start=1):
        inside = which == s
        w = residual[inside]
        km = float(np.average(target_mid_km[inside], weights=w)) if w.sum() > 0 else \
            float((sectors.start_km[s] + sectors.end_km[s]) / 2)
        (x,), (y,) = border.point_at([km])
        lon, lat = border.projection.to_lonlat(x, y)
        out.append(OrbitSite(id=f"O{rank}", sector=int(s), chainage_km=km, x=float(x), y=float(y),
                             lon=float(lon), lat=float(lat), residual_risk=float(risk[s] / total)))
    return tuple(out)
