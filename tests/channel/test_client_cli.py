"""Mutual TLS with the deployment's certificates, and the `borderwatch channel` commands."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from borderwatch.channel import Store
from borderwatch.channel.api import ServerThread, free_port, make_server
from borderwatch.channel.client import ChannelClient, ChannelHTTPError
from borderwatch.cli import main
from borderwatch.errors import ChannelError

EVERYONE = ["iq-mod", "sy-gov", "sdf", "tr", "us"]


@pytest.fixture
def tls_server(tmp_path, deployment):
    port = free_port()
    with Store(tmp_path / "channel.db", deployment) as store:
        with ServerThread(make_server(deployment, store, port=port, tls=True)):
            yield f"https://127.0.0.1:{port}", store


def tls_client(deployment, ids, base, party, **kw):
    return ChannelClient(base, ids[party], verify=deployment.ca_cert_path,
                         cert=(deployment.client_cert_path(party), deployment.client_key_path(party)),
                         **kw)


def test_mutual_tls_identifies_the_party_by_its_certificate(tls_server, deployment, ids):
    base, store = tls_server
    with tls_client(deployment, ids, base, "sdf", token=False) as sdf:    # certificate only
        assert sdf.whoami() == "sdf"
        r = sdf.publish("track", {"id": 1}, releasable_to=EVERYONE)
        assert r.recipients == ("iq-mod", "sdf", "us")
    with tls_client(deployment, ids, base, "us", token=False) as us:
        assert us.get(r.id).envelope.sender == "sdf"
    with tls_client(deployment, ids, base, "tr", token=False) as tr:
        with pytest.raises(ChannelHTTPError) as exc:
            tr.get(r.id)
        assert exc.value.status == 404


def test_a_client_without_a_certificate_is_refused(tls_server, deployment, ids):
    base, store = tls_server
    # Trusts the server's CA and even signs a valid token, but has no client certificate.
    with ChannelClient(base, ids["us"], verify=deployment.ca_cert_path) as anon:
        with pytest.raises(ChannelError, match="SSL|TLS|certificate|Connect|disconnected|closed"):
            anon.whoami()


def test_certificate_and_token_must_name_the_same_party(tls_server, deployment, ids):
    base, store = tls_server
    # tr's certificate with us's token: refused, whatever either says alone.
    client = ChannelClient(base, ids["us"], verify=deployment.ca_cert_path,
                           cert=(deployment.client_cert_path("tr"), deployment.client_key_path("tr")))
    with client, pytest.raises(ChannelHTTPError) as exc:
        client.whoami()
    assert exc.value.status == 403 and "certificate is for \"tr\"" in exc.value.detail


def run_inline(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["borderwatch", *args])
    monkeypatch.setenv("COLUMNS", "200")
    code = 0
    try:
        main.run()
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_init_then_audit_verify_finds_a_tampered_row_by_id(monkeypatch, capsys, tmp_path,
                                                           store_url, raw_sql):
    dep_dir = tmp_path / "dep"
    code, out, err = run_inline(monkeypatch, capsys, "channel", "init", "iraq-syria", "-o", str(dep_dir))
    assert code == 0 and "tr" in out and (dep_dir / "deployment.toml").is_file()
    code, out, err = run_inline(monkeypatch, capsys, "channel", "init", "iraq-syria", "-o", str(dep_dir))
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1

    from borderwatch.channel import load_deployment

    dep = load_deployment(dep_dir)
    with Store(store_url, dep) as s:
        receipts = s.publish_many([dep.identity(p).seal("text", {"n": i}, releasable_to=EVERYONE)
                                   for i, p in enumerate(EVERYONE)])
        s.acknowledge("us", receipts[0].id)
    code, out, err = run_inline(monkeypatch, capsys, "channel", "audit", "verify", str(dep_dir),
                                "--store", store_url)
    assert code == 0 and out.startswith("OK: 5 records") and "1 acknowledgements" in out
    raw_sql(store_url, ("UPDATE envelopes SET body = ? WHERE seq = 3", (json.dumps({"n": 99}),)))
    code, out, err = run_inline(monkeypatch, capsys, "channel", "audit", "verify", str(dep_dir),
                                "--store", store_url)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"record 3 (envelope {receipts[2].id})" in err and "signature" in err


def test_audit_verify_of_a_missing_store_is_one_line(monkeypatch, capsys, tmp_path, deployment):
    code, out, err = run_inline(monkeypatch, capsys, "channel", "audit", "verify", str(deployment.path),
                                "--store", str(tmp_path / "nothing.db"))
    assert code == 2 and "no such store file" in err and len(err.strip().splitlines()) == 1


def test_demo_delivers_the_breach_to_those_allowed_and_audits(monkeypatch, capsys, caplog, tmp_path):
    with caplog.at_level(logging.WARNING):
        code, out, err = run_inline(monkeypatch, capsys, "channel", "demo", "iraq-syria",
                                    "-o", str(tmp_path / "demo"))
    assert code == 0, err
    # Nothing went wrong on the way: the server closing its TLS connections at the end logged
    # "Exception in callback ... connection_lost" with a traceback for each (until 2026-12-07).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Traceback" not in err
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in out.splitlines() if line.startswith("│")}
    assert set(rows) == set(EVERYONE)
    for p in EVERYONE:                                   # breach alerts go to all five
        assert rows[p][0] == "received" and rows[p][1].endswith("ms")
    assert [p for p in EVERYONE if rows[p][2] == "withheld"] == ["sy-gov", "tr"]
    assert "the same answer as for an id that does not exist" in out
    assert "audit: OK" in out


def test_init_names_the_server_hosts_in_its_certificate(monkeypatch, tmp_path):
    from cryptography import x509

    monkeypatch.setattr(sys, "argv", ["borderwatch", "channel", "init", "tiny", "-o", str(tmp_path / "d"),
                                      "--host", "192.0.2.10", "--host", "tak.example.org"])
    with pytest.raises(SystemExit) as done:
        main.run()
    assert done.value.code in (0, None)
    cert = x509.load_pem_x509_certificate((tmp_path / "d" / "server" / "server.crt").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.10"]
    assert san.get_values_for_type(x509.DNSName) == ["tak.example.org"]
