"""Watch: multi-target tracking and breach detection, columnar from end to end.

    from borderwatch.track import Detections, Tracker, TrackerConfig
    tracker = Tracker(TrackerConfig(), sensors=("tower-1", "uav-1"))
    tracker.step(Detections.position(t=0.0, x=xs, y=ys, sigma_m=10.0, sensor=1))
    est = tracker.estimates()          # confirmed tracks: id, state (x, y, vx, vy), cov

The parts carry the field's names (Predictor, Updater, Hypothesiser,
DataAssociator, Initiator, Deleter: see `tracker.py`); inside they are
NumPy columns over all tracks at once.
"""

from __future__ import annotations

__all__ = ["Breach", "BreachDetector", "Detections", "Estimates", "Gospa", "PositionSensor",
           "RangeBearingSensor", "StepResult", "Tracker", "TrackerConfig", "TrackHistory", "gospa"]

_HOME = {"Detections": "detections", "Tracker": "tracker", "TrackerConfig": "tracker",
         "Estimates": "tracker", "StepResult": "tracker", "TrackHistory": "history",
         "PositionSensor": "sensors", "RangeBearingSensor": "sensors",
         "Breach": "breach", "BreachDetector": "breach", "Gospa": "gospa", "gospa": "gospa"}


def __getattr__(name: str):
    # Imported on first use so that `import borderwatch.track` stays cheap.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(f"borderwatch.track.{_HOME[name]}"), name)
    raise AttributeError(name)
