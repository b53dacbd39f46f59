"""Web map fixtures: a real channel app (`make_app`) with the map mounted, served by uvicorn
on a free loopback port, a tiny plan and simulation run behind it, and headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from webmap_helpers import CHROMIUM, CHROMIUM_ARGS, LOGINS, Page


@pytest.fixture(scope="session")
def web_run(tiny, tmp_path_factory):
    """A tiny plan (its GeoJSON layers) and one simulated hour of it."""
    from borderwatch.geo import Border
    from borderwatch.plan.whole import make_plan, write_plan
    from borderwatch.report.plan_outputs import write_plan_layers
    from borderwatch.sim.engine import SimOptions
    from borderwatch.sim.montecarlo import simulate
    from borderwatch.sim.outputs import write_outcomes

    out = tmp_path_factory.mktemp("web-run")
    plan = make_plan(tiny)
    write_plan(plan, out / "plan" / "plan-full.json")
    write_plan_layers(plan, Border.from_scenario(tiny), out / "plan")
    result = simulate(tiny, plan, runs=1, seed=0, options=SimOptions(hours=2.0), workers=1)
    write_outcomes({"optimised": result}, out / "sim")
    return out


@pytest.fixture(scope="session")
def server(tiny, web_run, tmp_path_factory):
    """The channel API with the map mounted at `/`: (base URL, deployment, web state)."""
    from borderwatch.channel import Store, create_deployment
    from borderwatch.channel.api import ServerThread, free_port, make_app
    from borderwatch.web import mount

    import uvicorn

    folder = tmp_path_factory.mktemp("web-channel")
    deployment = create_deployment(tiny, folder / "deployment")
    store = Store(folder / "channel.db", deployment)
    app = make_app(deployment, store, auth=("token",), poll_s=0.2)
    state = mount(app, scenario=tiny, plan_dir=web_run / "plan", sim_dir=web_run / "sim",
                  logins=LOGINS)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                        access_log=False, lifespan="on"))
    with ServerThread(srv):
        yield f"http://127.0.0.1:{port}", deployment, state
    store.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Screenshots land here (a pytest temporary folder: the tests' artefacts)."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def open_page(browser, server):
    pages: list[Page] = []

    def make() -> Page:
        p = Page(browser, server[0])
        pages.append(p)
        return p

    yield make
    for p in pages:
        p.close()
