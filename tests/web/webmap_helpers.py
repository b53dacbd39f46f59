"""Helpers of the web map tests: the Chromium launch, a page that records its console errors
and requests, publishing through the API, and the party login codes the test server uses."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
LOGINS = {"east": "east-login-code", "west": "west-login-code", "ally": "ally-login-code"}


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


def publish(server, party: str, kind: str, body: dict, releasable_to) -> object:
    """Publish through the HTTP API as `party` (token-authenticated, as any client would)."""
    from borderwatch.channel.client import ChannelClient

    base, deployment, _ = server
    with ChannelClient(base, deployment.identity(party)) as c:
        return c.publish(kind, body, releasable_to=releasable_to)
