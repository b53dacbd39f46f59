"""Web map fixtures: a real channel app (`make_app`) with the map mounted, served by uvicorn
on a free loopback port, a tiny plan and simulation run behind it, and headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
LOGINS = {"east": "east-login-code", "west": "west-login-code", "ally": "ally-login-code"}


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


class Page:
    """A browser page with its console errors and the URLs it asked for."""

    def __init__(self, browser, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.base = base

    def open(self) -> "Page":
        self.page.goto(self.base + "/")
        self.page.wait_for_function("window.bw && window.bw.ready === true", timeout=15000)
        return self

    def login(self, party: str) -> "Page":
        self.page.select_option("#party", party)
        self.page.fill("#code", LOGINS[party])
        self.page.click("#login-btn")
        self.page.wait_for_function("window.bw.live === true", timeout=10000)
        return self

    def close(self) -> None:
        self.context.close()


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


def publish(server, party: str, kind: str, body: dict, releasable_to) -> object:
    """Publish through the HTTP API as `party` (token-authenticated, as any client would)."""
    from borderwatch.channel.client import ChannelClient

    base, deployment, _ = server
    with ChannelClient(base, deployment.identity(party)) as c:
        return c.publish(kind, body, releasable_to=releasable_to)


def save_for_docs(src: Path, name: str) -> None:
    """Copy a screenshot into docs/img when asked (BORDERWATCH_DOCS_IMG=1), for the README."""
    if os.environ.get("BORDERWATCH_DOCS_IMG"):
        target = Path(__file__).resolve().parents[2] / "docs" / "img" / name
        shutil.copyfile(src, target)
