"""Screenshot of the web map as `borderwatch serve` serves it (mutual TLS, logged in as a party).

How docs/img/web-map.png was made, after `make demo`:

    borderwatch channel init iraq-syria -o out/dep
    borderwatch serve out/dep --plan out/plan --sim out/sim --tls-port 18089 --http-port 18443 &
    mkdir -p out/replay
    borderwatch replay out/replay --record --plan out/plan --hours 1 --seed 3 \
        --to 127.0.0.1:18089 --tls --party us --deployment out/dep --speed inf
    .venv/bin/python tools/screenshot_map.py          # needs Debian's chromium and playwright
"""
import tomllib
from playwright.sync_api import sync_playwright
codes = tomllib.loads(open("out/dep/web-logins.toml").read())
party = "sdf"
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless","--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update","--no-first-run"])
    # The deployment's own CA is not in Chromium's store; the client certificate is presented.
    ctx = b.new_context(viewport={"width":1400,"height":900}, ignore_https_errors=True,
        client_certificates=[{"origin":"https://127.0.0.1:18443","certPath":f"out/dep/parties/{party}/client.crt","keyPath":f"out/dep/parties/{party}/client.key"}])
    pg = ctx.new_page()
    errors = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto("https://127.0.0.1:18443/")
    pg.wait_for_timeout(1500)
    pg.select_option("#party", party)
    pg.fill("#code", codes[party])
    pg.click("#login-btn")
    pg.wait_for_timeout(2500)
    pg.evaluate("""() => { const s = document.getElementById('slider'); s.value = 50400; s.dispatchEvent(new Event('input')); }""")
    pg.wait_for_timeout(1500)
    pg.screenshot(path="docs/img/web-map.png")
    print("console errors:", errors)
    b.close()
