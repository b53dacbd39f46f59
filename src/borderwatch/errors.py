"""Every error borderwatch raises on purpose, in one place.

Each carries a sentence a user can act on: which file, which field, which
value, and why. The CLI prints ``str(error)`` as one line and exits 2; it
never shows a traceback for these.
"""

from __future__ import annotations

from pathlib import Path


class BorderwatchError(Exception):
    """Base class: something the user gave us is wrong or unusable."""

    exit_code = 2


class ScenarioError(BorderwatchError):
    """A scenario file (TOML, GeoJSON or DEM) is malformed.

    ``file`` is the file name as the user knows it, ``field`` the dotted path
    inside it (``assets.aircraft[2].endurance_h``), ``reason`` what is wrong.
    """

    def __init__(self, file: str | Path, field: str, reason: str) -> None:
        self.file = Path(file).name if isinstance(file, Path) else str(file)
        self.field = field
        self.reason = reason
        where = f"{self.file}: {field}: " if field else f"{self.file}: "
        super().__init__(f"{where}{reason}")


class TerrainError(BorderwatchError):
    """A DEM cannot be read, does not cover what it must, or has no usable CRS."""


class GeometryError(BorderwatchError):
    """Coordinates or geometry passed to the geo layer are unusable."""


class TrackError(BorderwatchError):
    """Detections handed to the tracker are malformed (shape, NaN, covariance, sensor)."""


class ChannelError(BorderwatchError):
    """A channel deployment, envelope, key or store is unusable or refused."""


class SimError(BorderwatchError):
    """Simulation options or inputs are unusable (negative hours, zero runs, a plan for another scenario)."""


class CotError(BorderwatchError):
    """A Cursor-on-Target message (XML or TAK protobuf) is malformed, unsafe or too big.

    ``field`` names what is wrong as ``element@attribute`` (``point@lat``,
    ``event@stale``, ``detail/contact@callsign``) or a framing part (``xml``,
    ``frame``, ``stream``); ``reason`` says why. A server counts rejections by
    ``field`` and keeps the connection.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"CoT {field}: {reason}")
