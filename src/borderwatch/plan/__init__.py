"""Planning: watchtowers, patrols (Stackelberg game), air orbits and the 24-hour roster.

Entry points: `make_plan(scenario) -> Plan` and `site_towers(scenario, k) -> TowerPlan`.
"""

from __future__ import annotations

__all__ = ["Plan", "PlanOptions", "TowerOptions", "TowerPlan", "TowerSite", "make_plan", "read_plan",
           "site_towers", "write_plan"]

_HOME = {"Plan": "whole", "PlanOptions": "whole", "make_plan": "whole", "read_plan": "whole",
         "write_plan": "whole", "TowerOptions": "towers", "TowerPlan": "towers", "TowerSite": "towers",
         "site_towers": "towers"}


def __getattr__(name: str):
    # Imported on first use so that `borderwatch.plan.<module>` stays cheap to import.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"borderwatch.plan.{_HOME[name]}"), name)
    raise AttributeError(name)
