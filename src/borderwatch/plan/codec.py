"""Plans to JSON and back, exactly.

Plans are trees of frozen dataclasses, tuples, dicts and NumPy arrays. Each
dataclass is written with its type name, each array with its dtype, so
reading a plan back gives equal objects (tuples stay tuples, arrays keep
dtype). Only the types registered here can be read: a plan file cannot make
the reader build anything else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from borderwatch.errors import BorderwatchError

_REGISTRY: dict[str, type] = {}


def register(*classes: type) -> None:
    for cls in classes:
        _REGISTRY[cls.__name__] = cls


def to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"__type__": type(obj).__name__}
        for f in dataclasses.fields(obj):
            out[f.name] = to_jsonable(getattr(obj, f.name))
        return out
    if isinstance(obj, np.ndarray):
        return {"__array__": obj.dtype.str, "shape": list(obj.shape), "data": obj.ravel().tolist()}
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, dict):
        return {"__dict__": [[to_jsonable(k), to_jsonable(v)] for k, v in obj.items()]}
    return obj


def from_jsonable(obj: Any, where: str = "plan") -> Any:
    if isinstance(obj, list):
        return tuple(from_jsonable(v, f"{where}[{i}]") for i, v in enumerate(obj))
    if not isinstance(obj, dict):
        return obj
    if "__array__" in obj:
        return np.asarray(obj["data"], dtype=np.dtype(obj["__array__"])).reshape(obj["shape"])
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__dict__" in obj:
        return {from_jsonable(k, where): from_jsonable(v, f"{where}.{k}") for k, v in obj["__dict__"]}
    name = obj.get("__type__")
    cls = _REGISTRY.get(name)
    if cls is None:
        raise BorderwatchError(f"{where}: unknown record type {name!r} in plan file")
    kwargs = {k: from_jsonable(v, f"{where}.{k}") for k, v in obj.items() if k != "__type__"}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise BorderwatchError(f"{where}: does not match {name} ({exc})") from None


def dumps(obj: Any) -> str:
    return json.dumps(to_jsonable(obj), ensure_ascii=False)


def loads(text: str, where: str = "plan") -> Any:
    try:
        return from_jsonable(json.loads(text), where)
    except json.JSONDecodeError as exc:
        raise BorderwatchError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
