"""The common operating picture in the browser: `mount(app, ...)` adds the map page to a
FastAPI app (the channel's, from `borderwatch.channel.api.make_app`).

Routes added::

    GET  /                       the map page (Leaflet, bundled; nothing fetched from outside)
    GET  /web/static/...         its script, style sheet and Leaflet (vendored by `make web`)
    GET  /web/config.json        scenario, parties, which layers exist, terrain bounds
    GET  /web/data/{name}.geojson  countries and rivers (Natural Earth), border (sectors with coverage),
                                 water, places, and the plan's towers/visible/blind/patrols/orbits
    GET  /web/data/roster.json   the air roster's sorties (who is on station when)
    GET  /web/data/terrain.png   the DEM hillshaded, for an image overlay (SYNTHETIC flagged)
    GET  /web/data/replay.json   one simulation run for the time slider (?plan=&run=)
    POST /web/login              {"party", "code"} or a channel token → {"session", "party"}
    GET  /web/api/envelopes      history released to the session's party (?after=&limit=)
    POST /web/api/envelopes/{id}/ack  acknowledge one, as that party
    WS   /web/live?session=&after=    deliveries as they are stored (the channel's live hub)

Browsers cannot put an ``Authorization`` header on a WebSocket, nor sign the
channel's Ed25519 tokens without the party's key in the page, so the page
logs in once — with the per-party login code the server issues
(`WebState.logins`, written by `write_logins`), or with a channel token made
from the party's key — and gets a session. Every read goes through the
store's per-party queries and the channel's live hub, so a session sees only
what is released to its party, exactly as the API would show it.
"""

# (no `from __future__ import annotations`: FastAPI reads the route annotations at run time)

import asyncio
import contextlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["WebState", "mount", "write_logins"]

SESSION_TTL_S = 12 * 3600.0
STATIC = Path(str(resources.files("borderwatch") / "web" / "static"))
DATA = Path(str(resources.files("borderwatch") / "web" / "data"))


@dataclass
class WebState:
    """What the web routes share: the data layers, logins and sessions."""

    deployment: Any
    store: Any
    scenario: Any
    hub: Any
    logins: dict[str, str]
    layers: dict[str, dict] = field(default_factory=dict)
    terrain: tuple[bytes, list, bool] | None = None
    sim_dir: Path | None = None
    sessions: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def login(self, party: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()
            for k in [k for k, (_, exp) in self.sessions.items() if exp < now]:
                del self.sessions[k]
            self.sessions[token] = (party, now + SESSION_TTL_S)
        return token

    def party(self, token: str | None) -> str | None:
        if not token:
            return None
        with self._lock:
            found = self.sessions.get(token)
        if found is None or found[1] < time.time():
            return None
        return found[0]


def write_logins(state: WebState, path: str | Path) -> Path:
    """The per-party login codes as TOML-ish text (0600), for the operator to hand out."""
    from borderwatch.files import atomic_write_text

    path = Path(path)
    text = "# borderwatch web map logins: give each party only its own line\n" + "".join(
        f'{p} = "{c}"\n' for p, c in state.logins.items())
    atomic_write_text(path, text)
    path.chmod(0o600)
    return path


def mount(app: Any, deployment: Any = None, store: Any = None, scenario: Any = None, *,
          plan_dir: str | Path | None = None, sim_dir: str | Path | None = None,
          logins: dict[str, str] | None = None, hub: Any = None) -> WebState:
    """Add the map page and its data routes to `app`; returns the shared `WebState`.

    `deployment`/`store` (and the app's channel state, when `app` came from
    `make_app`) give logins, history and the live feed; `scenario` (a
    `Scenario` or a bundled name; default the deployment's) the border,
    places and terrain; `plan_dir` a folder from `borderwatch plan -o DIR`;
    `sim_dir` one from `borderwatch simulate -o DIR`. `logins` maps party id
    to login code; codes are generated for every party when not given.
    """
    from fastapi import HTTPException, Request, WebSocket
    from fastapi.responses import FileResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    from borderwatch.errors import BorderwatchError, ChannelError
    from borderwatch.web import layers as L

    channel = getattr(getattr(app, "state", None), "channel", None)
    if channel is not None:
        deployment = deployment or channel.deployment
        store = store or channel.store
        hub = hub or channel.hub
    if scenario is None and deployment is not None:
        scenario = deployment.scenario
    if isinstance(scenario, (str, Path)):
        from borderwatch.scenario import load_scenario

        scenario = load_scenario(scenario)
    if hub is None and store is not None:
        from borderwatch.channel.live import LiveHub

        hub = LiveHub(store)
    parties = deployment.party_ids if deployment is not None else ()
    state = WebState(deployment, store, scenario, hub,
                     dict(logins) if logins is not None else {p: secrets.token_urlsafe(9) for p in parties})
    plan = None
    if plan_dir is not None:
        plan_dir = Path(plan_dir)
        if not plan_dir.is_dir():
            raise BorderwatchError(f"web: plan folder {plan_dir} does not exist")
        state.layers |= L.plan_layers(plan_dir)
        full = plan_dir / "plan-full.json"
        if full.exists():
            from borderwatch.plan.whole import read_plan

            plan = read_plan(full)
    if scenario is not None:
        state.layers |= L.scenario_layers(scenario, plan)
    if sim_dir is not None:
        state.sim_dir = Path(sim_dir)
    app.state.web = state
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="web-static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/web/config.json", include_in_schema=False)
    def config() -> dict[str, Any]:
        s = state.scenario
        terrain = _terrain()
        return {
            "scenario": None if s is None else {"name": s.name, "title": s.title},
            "parties": [] if deployment is None else [
                {"id": p.id, "name": p.name, "role": p.role} for p in deployment.parties],
            "owner": None if deployment is None else deployment.policy.owner,
            "layers": sorted(state.layers) + ["countries"],
            "terrain": None if terrain is None else {"bounds": terrain[1], "synthetic": terrain[2]},
            "replay": state.sim_dir is not None and (state.sim_dir / "outcomes.parquet").exists(),
            "live": store is not None,
        }

    def _terrain():
        if state.terrain is None and state.scenario is not None:
            state.terrain = L.terrain_png(state.scenario) or (b"", [], False)
        return state.terrain if state.terrain and state.terrain[0] else None

    @app.get("/web/data/countries.geojson", include_in_schema=False)
    async def countries() -> FileResponse:
        return FileResponse(DATA / "countries.geojson", media_type="application/geo+json")

    @app.get("/web/data/rivers.geojson", include_in_schema=False)
    async def rivers() -> FileResponse:
        return FileResponse(DATA / "rivers.geojson", media_type="application/geo+json")

    @app.get("/web/data/roster.json", include_in_schema=False)
    def roster() -> JSONResponse:
        return JSONResponse(state.layers.get("roster") or {"sorties": []})

    @app.get("/web/data/terrain.png", include_in_schema=False)
    def terrain_png() -> Response:
        t = _terrain()
        if t is None:
            raise HTTPException(404, "this scenario has no terrain")
        return Response(t[0], media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.get("/web/data/replay.json", include_in_schema=False)
    def replay(plan: str | None = None, run: int = 0) -> JSONResponse:
        data = None if state.sim_dir is None else L.replay(state.sim_dir, state.scenario, plan, run)
        if data is None:
            raise HTTPException(404, "no simulation run was given to the server")
        return JSONResponse(data)

    @app.get("/web/data/{name}.geojson", include_in_schema=False)
    def layer(name: str) -> JSONResponse:
        if name not in state.layers or name == "roster":
            raise HTTPException(404, f'no layer "{name}"')
        return JSONResponse(state.layers[name], media_type="application/geo+json")

    # -- logins, history, acknowledgements, live ---------------------------------------

    def session_party(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        party = state.party(token.strip()) if scheme == "Session" else None
        if party is None:
            raise HTTPException(401, "not logged in (or the session expired): log in as a party")
        return party

    @app.post("/web/login", include_in_schema=False)
    async def login(request: Request) -> dict[str, str]:
        if deployment is None:
            raise HTTPException(404, "this server has no channel to log in to")
        header = request.headers.get("authorization")
        if header and channel is not None:
            try:
                q = request.scope.get("query_string", b"")
                party = channel.tokens.verify(header, "POST", request.scope["path"]
                                              + ("?" + q.decode("latin-1") if q else ""))
            except ChannelError as exc:
                raise HTTPException(401, str(exc)) from None
        else:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise HTTPException(400, 'body must be {"party": ..., "code": ...}')
            party, code = str(body.get("party", "")), str(body.get("code", ""))
            want = state.logins.get(party)
            if want is None or not hmac.compare_digest(want.encode(), code.encode()):
                raise HTTPException(401, "unknown party or wrong login code")
        return {"session": state.login(party), "party": party}

    @app.get("/web/api/envelopes", include_in_schema=False)
    def history(request: Request, after: int = 0, limit: int = 500) -> dict[str, Any]:
        party = session_party(request)
        from borderwatch.channel.api import delivery_json

        rows = store.search(party, after=max(0, after), limit=max(1, min(limit, 1000)))
        return {"party": party, "deliveries": [delivery_json(d) for d in rows],
                "last": rows[-1].position if rows else after}

    @app.post("/web/api/envelopes/{envelope_id}/ack", include_in_schema=False)
    def acknowledge(envelope_id: str, request: Request) -> dict[str, Any]:
        party = session_party(request)
        from borderwatch.channel.api import ack_json

        try:
            return ack_json(store.acknowledge(party, envelope_id))
        except ChannelError as exc:
            raise HTTPException(404 if "no such envelope" in str(exc) else 400, str(exc)) from None

    @app.websocket("/web/live")
    async def live(ws: WebSocket) -> None:
        from starlette.concurrency import run_in_threadpool

        from borderwatch.channel.live import frame_text

        party = state.party(ws.query_params.get("session"))
        if party is None or state.hub is None:
            await ws.close(code=4401, reason="not logged in")
            return
        after_text = ws.query_params.get("after", "")
        after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else \
            await run_in_threadpool(store.cursor, party)
        await ws.accept()
        sub = state.hub.subscribe(party, after)

        async def pump() -> None:
            while True:
                await ws.send_text(frame_text(await sub.next_batch()))

        async def listen() -> None:
            while True:
                await ws.receive_text()

        tasks = [asyncio.create_task(pump()), asyncio.create_task(listen())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sub.close()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(BaseException):
                    await t
            with contextlib.suppress(Exception):
                await ws.close()

    return state
