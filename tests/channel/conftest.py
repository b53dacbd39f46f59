"""Channel fixtures: one Iraq–Syria deployment per test session, and its parties' keys."""

from __future__ import annotations

import pytest

from borderwatch.channel import create_deployment


@pytest.fixture(scope="session")
def deployment(iraq_syria, tmp_path_factory):
    return create_deployment(iraq_syria, tmp_path_factory.mktemp("channel") / "deployment")


@pytest.fixture(scope="session")
def ids(deployment):
    """Each party's signing identity, by party id."""
    return {pid: deployment.identity(pid) for pid in deployment.party_ids}
