"""borderwatch: plan, watch and coordinate the security of a land border."""

from borderwatch.errors import BorderwatchError, ScenarioError
from borderwatch.scenario import Scenario, load_scenario

__version__ = "0.1.0"
__all__ = ["BorderwatchError", "Scenario", "ScenarioError", "load_scenario", "__version__"]
