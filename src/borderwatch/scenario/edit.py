"""Small, safe edits to a scenario TOML that keep the user's comments.

Used by `borderwatch terrain import` to point a scenario at a new DEM. The
edited file is validated before it replaces the old one, and the swap is an
atomic rename: a failure leaves the original untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import tomlkit


def set_terrain(toml_path: Path, dem: Path, *, synthetic: bool) -> None:
    """Point ``[terrain] dem`` at `dem` (relative when possible), atomically."""
    from borderwatch.scenario.load import load_scenario

    toml_path = Path(toml_path)
    doc = tomlkit.parse(toml_path.read_text(encoding="utf-8"))
    try:
        rel = os.path.relpath(dem.resolve(), toml_path.parent.resolve())
    except ValueError:  # another drive on Windows
        rel = str(dem.resolve())
    terrain = doc.get("terrain")
    if terrain is None:
        terrain = tomlkit.table()
        doc["terrain"] = terrain
    terrain["dem"] = rel
    terrain["synthetic"] = synthetic
    fd, tmp = tempfile.mkstemp(prefix=f".{toml_path.name}.", suffix=".toml", dir=toml_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(tomlkit.dumps(doc))
        load_scenario(tmp)  # refuse to install an edit that does not load
        os.chmod(tmp, toml_path.stat().st_mode & 0o7777)  # keep the user's permissions
        os.replace(tmp, toml_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def is_bundled(toml_path: Path) -> bool:
    """Bundled scenarios live inside the installed package and are not edited in place."""
    from importlib import resources

    root = Path(str(resources.files("borderwatch") / "data")).resolve()
    try:
        Path(toml_path).resolve().relative_to(root)
        return True
    except ValueError:
        return False

