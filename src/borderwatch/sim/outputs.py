"""Simulation results on disk: outcomes as Parquet (and CSV), summaries as JSON.

Every file goes through `borderwatch.files.atomic_path` (a temporary file in
the target folder, then a rename), so a failure never leaves half a table
that a later `read_parquet` would take for a whole one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from borderwatch.files import atomic_path, atomic_write_text
from borderwatch.sim.montecarlo import SimResult


def outcomes_table(results: dict[str, SimResult] | SimResult) -> pa.Table:
    """One Arrow table of every group of every run; with several results, a ``plan`` column
    (dictionary-encoded) tells them apart and comes first."""
    if isinstance(results, SimResult):
        results = {results.plan_label: results}
    tables = []
    for label, r in results.items():
        cols = {"plan": pa.array([label] * len(r.outcomes["run"]), pa.string()).dictionary_encode()}
        cols |= {k: pa.array(np.asarray(v)) for k, v in r.outcomes.items()}
        cols["seed"] = pa.array(r.seeds[r.outcomes["run"]].astype(np.int64))
        tables.append(pa.table(cols))
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    first = next(iter(results.values()))
    meta = {"scenario": first.scenario, "seed": str(first.seed), "runs": str(first.runs),
            "hours": repr(first.options.hours), "sources": json.dumps(list(first.source_names))}
    return table.replace_schema_metadata({f"borderwatch.{k}": v for k, v in meta.items()})


def write_outcomes(results: dict[str, SimResult] | SimResult, folder: str | Path,
                   csv: bool = False) -> dict[str, Path]:
    """``outcomes.parquet`` (and ``outcomes.csv`` on request) in `folder`; returns the paths."""
    folder = Path(folder)
    table = outcomes_table(results)
    files: dict[str, Path] = {}
    path = folder / "outcomes.parquet"
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    files["outcomes"] = path
    if csv:
        path = folder / "outcomes.csv"
        with atomic_path(path, suffix=".csv") as tmp:
            plain = table.set_column(0, "plan", table.column("plan").cast(pa.string()))
            pa_csv.write_csv(plain, tmp)
        files["csv"] = path
    return files


def _clean(obj):
    """JSON has no NaN or infinity: they become null; NumPy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(data: dict, path: str | Path) -> Path:
    """`data` (a summary's or comparison's ``to_dict()``) as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(_clean(data), indent=2, ensure_ascii=False) + "\n")
