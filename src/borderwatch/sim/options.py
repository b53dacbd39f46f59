"""`SimOptions`: what a simulated window looks like, every number in one place.

Infiltrator behaviour and sensor performance are not in the scenario file
(they are what a commander wants to vary); the defaults below are stated
ASSUMPTIONS, chosen to be physically plausible and consistent with the
scenario's own per-crossing probabilities (see `sim/world.py` for how the
sensors are calibrated against them).
"""

from __future__ import annotations

from dataclasses import dataclass

from borderwatch.errors import SimError


@dataclass(frozen=True, slots=True)
class SimOptions:
    # -- the window and the people ------------------------------------------------
    hours: float = 24.0                 # crossings are spread over [0, hours)
    tail_h: float = 0.5                 # simulated after the window, so late alerts count
    step_s: float = 1.0                 # movement step
    share: float = 0.05                 # share of the scenario headcount that tries in the window
    group_min: int = 3                  # people per group, uniform in [group_min, group_max]
    group_max: int = 12
    vehicle_share: float = 0.15         # groups that drive (off-road) rather than walk
    foot_speed_mps: float = 1.2         # on flat ground; Tobler's hiking function on slopes
    vehicle_speed_mps: float = 8.0
    approach_km: float = 12.0           # groups appear this far out (beyond tower range)
    inland_km: float = 10.0             # and head this far inside the own side
    rationality: float | None = None    # None: best response (within br_tolerance); else λ of a logit QR
    br_tolerance: float = 0.02          # best response: uniform over crossings within 2% of the best
    travel_km: float = 60.0             # crossings farther from a source are discounted by exp(-d/travel_km)
    night_start_h: float = 18.0
    night_end_h: float = 6.0
    # -- sensors ---------------------------------------------------------------------
    look_s: float = 5.0                 # towers and aircraft report every look_s
    tower_sigma_range_m: float = 15.0
    tower_sigma_bearing_rad: float = 0.003
    tower_night_factor: float = 0.5     # thermal cameras see less at night than EO by day
    tower_clutter_per_h: float = 2.0    # false alarms per tower per hour
    air_sigma_m: float = 20.0
    air_night_factor: float = 0.8
    air_clutter_per_h: float = 4.0
    orbit_radius_km: float = 12.5       # the area an aircraft on station watches
    patrol_speed_mps: float = 5.6       # 20 km/h along its stretch, back and forth
    patrol_offset_m: float = 500.0      # driving this far inside the line
    patrol_radius_m: float = 1500.0     # who a patrol can see
    patrol_look_s: float = 10.0
    patrol_p_look: float = 0.25         # per look, by day, within the radius
    patrol_night_factor: float = 0.5
    patrol_sigma_m: float = 30.0
    vehicle_visibility: float = 3.0     # a vehicle is this much easier to see than a group on foot
    interdiction_km: float = 5.0        # an alerted group is interdicted if a patrol can reach it before this
    patrol_day: int | None = None       # which sampled patrol day to use; None: drawn per run

    def __post_init__(self) -> None:
        def positive(name: str) -> None:
            if not getattr(self, name) > 0:
                raise SimError(f"simulation option {name} must be > 0, got {getattr(self, name)}")

        for name in ("hours", "step_s", "foot_speed_mps", "vehicle_speed_mps", "approach_km",
                     "inland_km", "look_s", "tower_sigma_range_m", "tower_sigma_bearing_rad",
                     "air_sigma_m", "orbit_radius_km", "patrol_speed_mps", "patrol_radius_m",
                     "patrol_look_s", "patrol_sigma_m", "interdiction_km", "travel_km"):
            positive(name)
        if self.hours > 24 * 14:
            raise SimError(f"simulation option hours must be at most two weeks (336), got {self.hours}")
        for name in ("share", "vehicle_share", "patrol_p_look", "tower_night_factor", "air_night_factor",
                     "patrol_night_factor", "br_tolerance"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise SimError(f"simulation option {name} must be between 0 and 1, got {v}")
        for name in ("tail_h", "tower_clutter_per_h", "air_clutter_per_h", "patrol_offset_m"):
            if not getattr(self, name) >= 0:
                raise SimError(f"simulation option {name} must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.group_min <= self.group_max:
            raise SimError(f"simulation options need 1 <= group_min <= group_max, got "
                           f"{self.group_min}..{self.group_max}")
        if self.rationality is not None and not self.rationality >= 0:
            raise SimError(f"simulation option rationality must be >= 0 (or None), got {self.rationality}")
        if self.look_s < self.step_s or self.patrol_look_s < self.step_s:
            raise SimError("simulation options: look_s and patrol_look_s must be at least step_s")
        if self.vehicle_visibility <= 0:
            raise SimError("simulation option vehicle_visibility must be > 0")
