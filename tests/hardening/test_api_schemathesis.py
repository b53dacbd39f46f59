"""The REST API against its own OpenAPI schema, with generated requests (schemathesis).

A real uvicorn server (SQLite store, signed-token auth) answers every
generated request as party `us`; no request may make it fail (5xx), and
afterwards the store's audit chain still verifies: a malformed request is a
4xx with a reason and changes nothing.
"""

from __future__ import annotations

import pytest
import requests

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extras")
from hypothesis import HealthCheck, settings  # noqa: E402

from borderwatch import load_scenario  # noqa: E402
from borderwatch.channel import Store, create_deployment, load_deployment  # noqa: E402
from borderwatch.channel.api import ServerThread, free_port, make_server, make_token  # noqa: E402
from borderwatch.channel.audit import verify  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("schemathesis")
    create_deployment(load_scenario("iraq-syria"), root / "dep")
    dep = load_deployment(root / "dep")
    port = free_port()
    with Store(root / "c.db", dep) as store:
        # Something to read, so that gets and acks meet real rows.
        ident = dep.identity("us")
        for i in range(3):
            store.publish(ident.seal("sighting", {"i": i}, releasable_to=dep.party_ids))
        with ServerThread(make_server(dep, store, port=port, tls=False, auth=("token",))):
            yield f"http://127.0.0.1:{port}", dep, store


class _Token(requests.auth.AuthBase):
    def __init__(self, identity) -> None:
        self.identity = identity

    def __call__(self, r):
        r.headers["Authorization"] = make_token(self.identity, r.method, r.path_url)
        return r


def test_no_generated_request_breaks_the_server(live):
    # (schemathesis's own pytest plugin does not run under pytest 9; its strategies do.)
    from hypothesis import given

    base, dep, _ = live
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    session = requests.Session()
    session.auth = _Token(dep.identity("us"))
    tried = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def one(case):
            response = case.call(base_url=base, session=session, timeout=10)
            assert response.status_code < 500, (f"{case.method} {case.formatted_path}: "
                                                f"{response.status_code} {response.text[:300]}")
            assert "Traceback" not in response.text

        one()
        tried += 1
    print(f"schemathesis: {tried} operations, up to 30 generated requests each")
    assert tried >= 8, f"only {tried} operations in the schema"


def test_store_still_verifies_after_the_generated_requests(live):
    _, dep, store = live
    assert verify(store, dep).ok
