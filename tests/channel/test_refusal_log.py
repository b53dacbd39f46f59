"""Every refusal of the channel API is logged: who tried what, and why it was turned away.

A real uvicorn server on loopback (SQLite store, signed tokens); each hostile
request is answered with its status, and the ``borderwatch.api`` log holds
one line with the same status, method, path and reason, and never the token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import pytest
import websockets

from borderwatch.channel import Store
from borderwatch.channel.api import ServerThread, free_port, make_server, make_token


@pytest.fixture
def server(tmp_path, deployment):
    port = free_port()
    with Store(str(tmp_path / "store.db"), deployment) as store:
        srv = make_server(deployment, store, port=port, tls=False, auth=("token",), poll_s=0.2)
        with ServerThread(srv):
            yield f"http://127.0.0.1:{port}"


def _post(base, ident, path, payload):
    return httpx.post(base + path, content=json.dumps(payload),
                      headers={"Authorization": make_token(ident, "POST", path)})


def _lines(caplog, status):
    return [r for r in caplog.records if r.name == "borderwatch.api" and f"refused {status} " in r.getMessage()]


def _wait_for(caplog, status, n=1):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(_lines(caplog, status)) < n:
        time.sleep(0.02)
    return _lines(caplog, status)


def test_forged_signature_and_impersonation_are_logged_as_warnings(server, ids, caplog):
    caplog.set_level(logging.INFO, logger="borderwatch.api")
    forged = ids["tr"].seal("sighting", {"lon": 41.0}, releasable_to=["iq-mod"]).to_dict()
    forged["sender"] = "us"                                  # tr's signature under us's name
    r = _post(server, ids["us"], "/envelopes", forged)
    assert r.status_code == 403
    as_other = ids["tr"].seal("sighting", {"lon": 42.0}, releasable_to=["iq-mod"]).to_dict()
    r2 = _post(server, ids["us"], "/envelopes", as_other)    # us's token, tr's envelope
    assert r2.status_code == 403
    lines = _wait_for(caplog, 403, 2)
    assert len(lines) == 2 and all(rec.levelno == logging.WARNING for rec in lines)
    text = [rec.getMessage() for rec in lines]
    assert any(r.json()["detail"] in t and "POST /envelopes" in t for t in text)
    assert any(r2.json()["detail"] in t for t in text)


def test_a_replayed_token_is_logged_and_the_token_is_not(server, ids, caplog):
    caplog.set_level(logging.INFO, logger="borderwatch.api")
    token = make_token(ids["sdf"], "GET", "/whoami")
    assert httpx.get(server + "/whoami", headers={"Authorization": token}).status_code == 200
    again = httpx.get(server + "/whoami", headers={"Authorization": token})
    assert again.status_code == 401
    (line,) = _wait_for(caplog, 401)
    msg = line.getMessage()
    assert line.levelno == logging.WARNING and "GET /whoami" in msg and again.json()["detail"] in msg
    signature = token.rsplit(":", 1)[1]
    assert signature not in caplog.text and token not in caplog.text


def test_an_unreleased_id_is_logged_like_a_missing_one_at_info(server, ids, caplog):
    caplog.set_level(logging.INFO, logger="borderwatch.api")
    env = ids["iq-mod"].seal("track", {"id": 7}, releasable_to=["iq-mod", "us"])
    assert _post(server, ids["iq-mod"], "/envelopes", env.to_dict()).status_code == 201
    path = f"/envelopes/{env.id}"
    r = httpx.get(server + path, headers={"Authorization": make_token(ids["tr"], "GET", path)})
    assert r.status_code == 404
    (line,) = _wait_for(caplog, 404)
    assert line.levelno == logging.INFO and f"GET {path}" in line.getMessage()
    assert r.json()["detail"] in line.getMessage()


def test_a_websocket_without_credentials_is_logged(server, caplog):
    caplog.set_level(logging.INFO, logger="borderwatch.api")

    async def attempt():
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(server.replace("http", "ws") + "/live"):
                pass

    asyncio.run(attempt())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "refused websocket /live" not in caplog.text:
        time.sleep(0.02)
    recs = [r for r in caplog.records if "refused websocket /live" in r.getMessage()]
    assert recs and recs[0].levelno == logging.WARNING and "4401" in recs[0].getMessage()
