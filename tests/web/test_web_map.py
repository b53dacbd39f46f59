"""The web map as a person uses it, in headless Chromium: it loads cleanly, draws the border
and towers, shows a breach published through the API within 2 s, shows each party only what
is released to it, and turns right-to-left in Arabic."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import httpx

from webmap_helpers import LOGINS, publish


def breach_body(lon: float, lat: float, **kw) -> dict:
    return {"track_id": kw.get("track_id", 7), "t": 100.0, "x": 0.0, "y": 0.0, "lon": lon, "lat": lat,
            "chainage_km": kw.get("km", 12.5), "sector": kw.get("sector", 0), "confidence": 0.8,
            "sensors": ["tower-1"], "how": "tracked",
            "detected_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def border_point(server) -> tuple[float, float]:
    state = server[2]
    lon, lat = state.layers["border"]["features"][0]["geometry"]["coordinates"][3]
    return lon, lat


def test_page_loads_without_console_errors_or_outside_requests(open_page, server, shots):
    p = open_page().open()
    p.page.wait_for_timeout(300)
    p.page.screenshot(path=str(shots / "map-tiny.png"))
    assert p.errors == []
    base = server[0]
    assert all(u.startswith((base, "data:")) for u in p.requests), \
        [u for u in p.requests if not u.startswith(base)]


def test_border_towers_and_layers_are_drawn(open_page, server):
    p = open_page().open()
    page = p.page
    sectors = len(server[2].layers["border"]["features"])
    towers = len(server[2].layers["towers"]["features"])
    assert page.locator("path.bw-border").count() == sectors
    assert page.locator("path.bw-tower").count() == towers > 0
    assert page.locator("path.bw-country").count() > 100        # Natural Earth basemap
    assert page.locator("path.bw-river").count() >= 5           # ... its rivers (Euphrates, Tigris, Khabur)
    assert page.locator("path.bw-lake").count() >= 1
    assert page.locator("img.bw-terrain").count() == 1
    assert page.locator("#synthetic").is_visible()                # tiny's DEM is synthetic
    names = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    for want in ("Border and sectors (coverage)", "Towers and what they see", "Live tracks",
                 "Breach alerts", "Air orbits (on station now)", "Patrol coverage",
                 "Terrain shading (SYNTHETIC)", "Simulated crossings (replay)"):
        assert any(want in n for n in names), (want, names)
    # toggling a layer off removes it from the map
    page.locator(".leaflet-control-layers-overlays label", has_text="Towers").locator("input").uncheck()
    assert page.locator("path.bw-tower").count() == 0
    assert p.errors == []


def test_time_slider_replays_the_simulated_run(open_page, server):
    p = open_page().open()
    page = p.page
    groups = page.evaluate("window.bw.replay.groups.filter(g => g.cross_t !== null).length")
    assert groups > 0
    page.locator("#slider").fill("0")
    assert page.locator("#replay-count").inner_text().startswith("0 ")
    page.evaluate("s => { const e = document.getElementById('slider'); e.value = e.max; "
                  "e.dispatchEvent(new Event('input')); }", None)
    assert page.locator("#replay-count").inner_text().startswith(f"{groups} ")


def test_breach_published_through_the_api_appears_within_2_s(open_page, server, shots):
    p = open_page().open().login("west")
    lon, lat = border_point(server)
    t0 = time.monotonic()
    receipt = publish(server, "east", "breach", breach_body(lon, lat), ["east", "west", "ally"])
    p.page.wait_for_selector(f'#breach-list li[data-id="{receipt.id}"]', timeout=2000)
    p.page.wait_for_selector(".bw-breach-icon", timeout=2000)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0
    assert "new" in p.page.locator(f'#breach-list li[data-id="{receipt.id}"]').get_attribute("class")
    p.page.screenshot(path=str(shots / "map-breach.png"))
    # acknowledge it from the page: the store records west's acknowledgement
    p.page.locator(f'#breach-list li[data-id="{receipt.id}"] button.ack').click()
    p.page.wait_for_selector(f'#breach-list li.acked[data-id="{receipt.id}"]', timeout=2000)
    assert any(a.party == "west" for a in server[2].store.acknowledgements("east", receipt.id))
    assert p.errors == []


def test_a_party_sees_only_what_is_released_to_it(open_page, server):
    lon, lat = border_point(server)
    tag = uuid.uuid4().hex[:8]
    east = open_page().open().login("east")
    west = open_page().open().login("west")
    track = publish(server, "east", "track", {"track_id": f"t-{tag}", "lon": lon, "lat": lat, "t": 1.0},
                    ["east", "ally"])
    secret = publish(server, "east", "breach", breach_body(lon, lat, km=3.25), ["east", "ally"])
    shared = publish(server, "east", "breach", breach_body(lon, lat, km=4.5), ["east", "west", "ally"])
    assert set(secret.recipients) == {"east", "ally"} and "west" in shared.recipients
    for page in (east, west):
        page.page.wait_for_selector(f'#breach-list li[data-id="{shared.id}"]', timeout=3000)
    assert east.page.locator(f'#breach-list li[data-id="{secret.id}"]').count() == 1
    assert east.page.evaluate(f"'t-{tag}' in window.bw.tracks")
    assert west.page.locator(f'#breach-list li[data-id="{secret.id}"]').count() == 0
    assert not west.page.evaluate(f"'t-{tag}' in window.bw.tracks")
    assert "km 3.3" not in west.page.locator("#breach-list").inner_text()
    # nor through the page's own API: the session is the party's
    s = httpx.post(server[0] + "/web/login", json={"party": "west", "code": LOGINS["west"]}).json()
    h = {"Authorization": f"Session {s['session']}"}
    ids = {d["envelope"]["id"] for d in httpx.get(server[0] + "/web/api/envelopes", headers=h).json()["deliveries"]}
    assert str(shared.id) in ids and str(secret.id) not in ids and str(track.id) not in ids
    assert httpx.post(f"{server[0]}/web/api/envelopes/{secret.id}/ack", headers=h).status_code == 404


def test_login_needs_the_partys_code_or_its_key(server):
    from borderwatch.channel.api import make_token

    base, deployment, _ = server
    assert httpx.post(base + "/web/login", json={"party": "west", "code": "wrong"}).status_code == 401
    assert httpx.post(base + "/web/login", json={"party": "west", "code": LOGINS["east"]}).status_code == 401
    assert httpx.get(base + "/web/api/envelopes").status_code == 401
    token = make_token(deployment.identity("ally"), "POST", "/web/login")
    r = httpx.post(base + "/web/login", headers={"Authorization": token})
    assert r.status_code == 200 and r.json()["party"] == "ally"


def test_arabic_view_is_right_to_left(open_page, server, shots):
    p = open_page().open()
    page = p.page
    page.click("#lang")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"
    assert page.locator("#login-btn").inner_text() == "دخول"
    assert page.locator("h2", has_text="تنبيهات الاختراق").count() == 1
    side_x = page.locator("#side").bounding_box()["x"]
    map_x = page.locator("#map").bounding_box()["x"]
    assert side_x < map_x                                  # the side panel moved to the left
    page.screenshot(path=str(shots / "map-arabic.png"))
    page.click("#lang")
    assert page.evaluate("document.documentElement.dir") == "ltr"
    assert p.errors == []
