"""Shared fixtures: the bundled scenarios, and editable copies of them."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from borderwatch import load_scenario


def bundled_dir(name: str) -> Path:
    return Path(str(resources.files("borderwatch") / "data" / name))


@pytest.fixture(scope="session")
def iraq_syria():
    return load_scenario("iraq-syria")


@pytest.fixture(scope="session")
def tiny():
    return load_scenario("tiny")


@pytest.fixture
def tiny_copy(tmp_path: Path) -> Path:
    """An editable copy of the tiny scenario folder; returns its TOML path."""
    target = tmp_path / "tiny"
    shutil.copytree(bundled_dir("tiny"), target)
    return target / "tiny.toml"
