"""Typed reads from a parsed TOML table that know where they are.

Every value is read through a `Fields` object that carries the file name and
the dotted path to the table, so any complaint names exactly what is wrong:
``iraq-syria.toml: assets.aircraft[2].endurance_h: must be > 0, got -4``.
Keys a table holds but nobody read are reported too: a typo in a field name
must not pass silently as "use the default".
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Sequence

from borderwatch.errors import ScenarioError

_MISSING = object()


def describe(value: Any) -> str:
    """A short, user-facing rendering of a bad value and its type."""
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f'string "{value}"' if len(value) < 40 else f'string "{value[:37]}..."'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, float) and value.is_integer():
        return repr(int(value)) if abs(value) < 1e15 else repr(value)
    return repr(value)


class Fields:
    """A TOML table plus its location, with validating getters."""

    def __init__(self, file: str, data: Any, path: str = "") -> None:
        self.file = file
        self.path = path
        if not isinstance(data, dict):
            raise self.error("", f"must be a table, got {describe(data)}")
        self.data = data
        self._read: set[str] = set()

    # -- locating -----------------------------------------------------------
    def where(self, key: str | int | None) -> str:
        if key is None or key == "":
            return self.path
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str | int | None, reason: str) -> ScenarioError:
        return ScenarioError(self.file, self.where(key), reason)

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            near = difflib.get_close_matches(key, [k for k in self.data if k not in self._read], 1, 0.75)
            hint = f' (found "{near[0]}": a typo?)' if near else ""
            raise self.error(key, f"missing (required){hint}")
        return default

    def has(self, key: str) -> bool:
        return key in self.data

    # -- scalars ------------------------------------------------------------
    def str(self, key: str, default: Any = _MISSING, *, choices: Sequence[str] | None = None,
            nonempty: bool = True) -> str:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, got {describe(value)}")
        if nonempty and not value.strip():
            raise self.error(key, "must not be empty")
        if choices is not None and value not in choices:
            options = ", ".join(f'"{c}"' for c in choices)
            raise self.error(key, f"must be one of {options}, got {describe(value)}")
        return value

    def num(self, key: str, default: Any = _MISSING, *, gt: float | None = None,
            ge: float | None = None, le: float | None = None, lt: float | None = None) -> float:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"must be a number, got {describe(value)}")
        value = float(value)
        if not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value}")
        self._check_range(key, value, gt, ge, le, lt)
        return value

    def int(self, key: str, default: Any = _MISSING, *, gt: int | None = None,
            ge: int | None = None) -> int:
        value = self._get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be a whole number, got {describe(value)}")
        self._check_range(key, value, gt, ge, None, None)
        return value

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {describe(value)}")
        return value

    def lon(self, key: str = "lon") -> float:
        return self.num(key, ge=-180.0, le=180.0)

    def lat(self, key: str = "lat") -> float:
        return self.num(key, ge=-90.0, le=90.0)

    def _check_range(self, key: str, value: float, gt, ge, le, lt) -> None:
        shown = describe(value)
        if gt is not None and not value > gt:
            raise self.error(key, f"must be > {describe(gt)}, got {shown}")
        if ge is not None and not value >= ge:
            raise self.error(key, f"must be >= {describe(ge)}, got {shown}")
        if lt is not None and not value < lt:
            raise self.error(key, f"must be < {describe(lt)}, got {shown}")
        if le is not None and not value <= le:
            raise self.error(key, f"must be <= {describe(le)}, got {shown}")

    # -- containers ---------------------------------------------------------
    def table(self, key: str, default: Any = _MISSING) -> "Fields":
        value = self._get(key, default)
        if value is None:
            return None  # type: ignore[return-value]
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table, got {describe(value)}")
        return Fields(self.file, value, self.where(key))

    def tables(self, key: str, *, required: bool = True, nonempty: bool = True) -> list["Fields"]:
        """An array of tables (``[[key]]`` in TOML), each with its indexed path."""
        value = self._get(key, _MISSING if required else [])
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables, got {describe(value)}")
        if nonempty and required and not value:
            raise self.error(key, "must list at least one entry")
        where = self.where(key)
        out = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise ScenarioError(self.file, f"{where}[{i}]", f"must be a table, got {describe(item)}")
            out.append(Fields(self.file, item, f"{where}[{i}]"))
        return out

    def str_list(self, key: str) -> list[str]:
        value = self._get(key, _MISSING)
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of strings, got {describe(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ScenarioError(self.file, f"{self.where(key)}[{i}]",
                                    f"must be a string, got {describe(item)}")
        return list(value)

    def done(self) -> None:
        """Refuse keys that were never read: they are typos or unsupported."""
        unknown = [k for k in self.data if k not in self._read]
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise self.error(unknown[0], f"unknown field (known here: {known})")
