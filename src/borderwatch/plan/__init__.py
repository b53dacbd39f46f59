"""Planning: watchtower siting (and, in later issues, patrols and the air roster).

Entry point: `site_towers(scenario, k) -> TowerPlan`.
"""

from __future__ import annotations

__all__ = ["TowerOptions", "TowerPlan", "TowerSite", "site_towers"]


def __getattr__(name: str):
    # Imported on first use so that `borderwatch.plan.<module>` stays cheap to import.
    if name in __all__:
        from borderwatch.plan import towers

        return getattr(towers, name)
    raise AttributeError(name)
