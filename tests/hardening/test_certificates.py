"""No one let in: foreign, expired and not-yet-valid certificates; keys never world-readable or logged."""

from __future__ import annotations

import logging
import ssl
import stat
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509 import load_pem_x509_certificate

from borderwatch import load_scenario
from borderwatch.channel import Store, create_deployment, load_deployment
from borderwatch.channel.api import ServerThread, free_port, make_server
from borderwatch.channel.client import ChannelClient
from borderwatch.channel.tls import Issued, issue_client, make_ca


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("certs")
    create_deployment(load_scenario("iraq-syria"), root / "dep")
    return load_deployment(root / "dep")


@pytest.fixture
def server(deployment, tmp_path):
    port = free_port()
    with Store(tmp_path / "channel.db", deployment) as store:
        with ServerThread(make_server(deployment, store, port=port, tls=True)):
            yield f"https://127.0.0.1:{port}"


def _write(issued: Issued, folder: Path, name: str) -> tuple[Path, Path]:
    crt, key = folder / f"{name}.crt", folder / f"{name}.key"
    crt.write_bytes(issued.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(issued.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return crt, key


def _deployment_ca(dep) -> Issued:
    folder = Path(dep.ca_cert_path).parent
    cert = load_pem_x509_certificate((folder / "ca.crt").read_bytes())
    key = load_pem_private_key((folder / "ca.key").read_bytes(), password=None)
    return Issued(key, cert)


def _refused(base: str, dep, crt: Path, key: Path) -> None:
    ctx = ssl.create_default_context(cafile=str(dep.ca_cert_path))
    ctx.load_cert_chain(str(crt), str(key))
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, ssl.SSLError)):
        with httpx.Client(verify=ctx, timeout=5) as c:
            c.get(f"{base}/whoami")


def test_a_certificate_from_another_ca_is_refused(server, deployment, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="borderwatch.api.tls")
    foreign = make_ca("someone else")
    crt, key = _write(issue_client(foreign, "someone else", "us"), tmp_path, "foreign-us")
    _refused(server, deployment, crt, key)
    # Refused at the handshake, and the API's log says so, with the peer and the reason.
    deadline = time.monotonic() + 5
    while "TLS handshake refused" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "TLS handshake refused: unable to get local issuer certificate" in caplog.text


def test_an_expired_certificate_of_the_right_ca_is_refused(server, deployment, tmp_path):
    ca = _deployment_ca(deployment)
    old = datetime.now(timezone.utc) - timedelta(days=900)
    crt, key = _write(issue_client(ca, "borderwatch", "us", days=30, now=old), tmp_path, "expired-us")
    _refused(server, deployment, crt, key)


def test_a_not_yet_valid_certificate_is_refused(server, deployment, tmp_path):
    ca = _deployment_ca(deployment)
    later = datetime.now(timezone.utc) + timedelta(days=30)
    crt, key = _write(issue_client(ca, "borderwatch", "us", now=later), tmp_path, "future-us")
    _refused(server, deployment, crt, key)


def test_the_right_certificate_gets_in(server, deployment):
    c = ChannelClient(server, deployment.identity("us"), verify=deployment.ca_cert_path,
                      cert=(deployment.client_cert_path("us"), deployment.client_key_path("us")), token=False)
    with c:
        assert c.whoami() == "us"


def test_private_keys_are_0600_and_never_in_logs_or_errors(deployment, caplog, tmp_path):
    root = Path(deployment.path)
    keys = [p for p in root.rglob("*.key")]
    assert keys, "no private keys found"
    for p in keys:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    # Nothing a server logs, nor any error it returns, contains key material.
    secrets = [p.read_text().splitlines()[1][:40] for p in keys]
    port = free_port()
    with Store(tmp_path / "c.db", deployment) as store:
        with ServerThread(make_server(deployment, store, port=port, tls=False, auth=("token",))):
            with httpx.Client(timeout=5) as c:
                r = c.get(f"http://127.0.0.1:{port}/envelopes", headers={"Authorization": "Borderwatch us:1:x:y"})
                assert r.status_code == 401
                body = r.text
    logged = caplog.text + body
    for s in secrets:
        assert s not in logged


def test_the_tak_server_refuses_and_logs_foreign_and_expired_certificates(deployment, tmp_path, caplog):
    import asyncio

    from borderwatch.channel.tak_server import TakServer

    caplog.set_level(logging.INFO, logger="borderwatch.tak")
    foreign = _write(issue_client(make_ca("someone else"), "someone else", "us"), tmp_path, "foreign-us")
    old = datetime.now(timezone.utc) - timedelta(days=900)
    expired = _write(issue_client(_deployment_ca(deployment), "borderwatch", "us", days=30, now=old),
                     tmp_path, "expired-us")
    good = (Path(deployment.client_cert_path("us")), Path(deployment.client_key_path("us")))

    async def attempt(port: int, crt: Path, key: Path) -> bytes | None:
        ctx = ssl.create_default_context(cafile=str(deployment.ca_cert_path))
        ctx.load_cert_chain(str(crt), str(key))
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            writer.write(b"<event/>")
            data = await asyncio.wait_for(reader.read(1024), 5)
            writer.close()
            return data
        except (ssl.SSLError, ConnectionError, OSError):
            return None

    async def main():
        with Store(tmp_path / "tak.db", deployment) as store:
            server = TakServer(deployment, store, tls_port=0, tcp_port=None)
            async with server:
                got = [await attempt(server.tls_port, *pair) for pair in (foreign, expired)]
                assert all(not g for g in got), got              # no data: refused at the handshake
                assert server.stats.tls_refused == 2 and server.stats.connections == 0
                ctx = ssl.create_default_context(cafile=str(deployment.ca_cert_path))
                ctx.load_cert_chain(*map(str, good))
                reader, writer = await asyncio.open_connection("127.0.0.1", server.tls_port, ssl=ctx)
                for _ in range(100):
                    if server.stats.connections:
                        break
                    await asyncio.sleep(0.02)
                assert server.stats.connections == 1 and server.stats.tls_refused == 2
                writer.close()

    asyncio.run(main())
    refusals = [r.getMessage() for r in caplog.records if "TLS handshake refused" in r.getMessage()]
    assert len(refusals) == 2, refusals
    assert any("issuer" in m.lower() or "unknown ca" in m.lower() for m in refusals), refusals
    assert any("expired" in m.lower() for m in refusals), refusals
