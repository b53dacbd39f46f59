"""Deployments: keys private from the first byte, certificates that chain, clear load errors."""

from __future__ import annotations

import os
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from borderwatch.channel import create_deployment, load_deployment
from borderwatch.channel.tls import common_name
from borderwatch.errors import ChannelError

SECRETS = ["ca/ca.key", "server/server.key"] + [
    f"parties/{p}/{f}" for p in ("iq-mod", "sy-gov", "sdf", "tr", "us")
    for f in ("signing.key", "client.key")]


def test_parties_and_policy_come_from_the_scenario(deployment, iraq_syria):
    assert deployment.party_ids == ("iq-mod", "sy-gov", "sdf", "tr", "us")
    assert deployment.scenario == "iraq-syria"
    rules = deployment.policy.rules
    assert rules["breach"] == set(iraq_syria.released_to("breach_alert"))
    assert rules["sighting"] == {"iq-mod", "us"}           # releasability.detection
    assert rules["track"] == {"iq-mod", "sdf", "us"}
    assert "tr" not in rules["sighting"] | rules["track"]


def test_private_keys_are_owner_only(deployment):
    for rel in SECRETS:
        mode = stat.S_IMODE((deployment.path / rel).stat().st_mode)
        assert mode == 0o600, (rel, oct(mode))
    assert stat.S_IMODE(deployment.path.stat().st_mode) == 0o700
    assert stat.S_IMODE((deployment.path / "deployment.toml").stat().st_mode) & 0o044


def test_private_keys_are_never_world_readable_even_momentarily(iraq_syria, tmp_path, monkeypatch):
    # Every secret must be born 0600 by os.open itself: record the mode each
    # file is created with, whatever happens to it afterwards.
    created: dict[str, int] = {}
    real_open = os.open

    def spy(path, flags, mode=0o777, *a, **k):
        if flags & os.O_CREAT:
            created[os.fspath(path)] = mode
        return real_open(path, flags, mode, *a, **k)

    monkeypatch.setattr(os, "open", spy)
    create_deployment(iraq_syria, tmp_path / "dep")
    keys = {p: m for p, m in created.items() if p.endswith(".key")}
    assert len(keys) == len(SECRETS)
    assert set(keys.values()) == {0o600}


def test_identity_refuses_a_key_others_can_read(iraq_syria, tmp_path):
    dep = create_deployment(iraq_syria, tmp_path / "dep")
    key = dep.signing_key_path("tr")
    os.chmod(key, 0o644)
    with pytest.raises(ChannelError, match=r"accessible to others \(mode 0644\); run chmod 600"):
        dep.identity("tr")


def test_identity_must_match_the_recorded_public_key(iraq_syria, tmp_path):
    dep = create_deployment(iraq_syria, tmp_path / "dep")
    os.replace(dep.signing_key_path("us"), dep.signing_key_path("tr"))
    with pytest.raises(ChannelError, match='not the one deployment.toml records for "tr"'):
        dep.identity("tr")


def test_refuses_to_overwrite_unless_told(iraq_syria, tmp_path):
    first = create_deployment(iraq_syria, tmp_path / "dep")
    with pytest.raises(ChannelError, match="a deployment already exists here"):
        create_deployment(iraq_syria, tmp_path / "dep")
    assert load_deployment(tmp_path / "dep").id == first.id
    second = create_deployment(iraq_syria, tmp_path / "dep", overwrite=True)
    assert second.id != first.id
    assert [p.name for p in tmp_path.iterdir()] == ["dep"]  # no temporary folders left


def test_never_replaces_a_folder_that_is_not_a_deployment(iraq_syria, tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(ChannelError, match="holds no deployment.toml"):
        create_deployment(iraq_syria, tmp_path / "docs", overwrite=True)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"


def test_certificates_chain_to_the_deployment_ca(deployment):
    ca = x509.load_pem_x509_certificate(deployment.ca_cert_path.read_bytes())
    server = x509.load_pem_x509_certificate(deployment.server_cert_path.read_bytes())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    for cert in [server] + [x509.load_pem_x509_certificate(deployment.client_cert_path(p).read_bytes())
                            for p in deployment.party_ids]:
        cert.verify_directly_issued_by(ca)
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert common_name(x509.load_pem_x509_certificate(
        deployment.client_cert_path("tr").read_bytes())) == "tr"


def test_mutual_tls_handshake_names_the_party(deployment):
    """A real TLS handshake over a socket pair: the client checks the server is
    localhost under the deployment CA; the server learns the party from the client cert."""
    import socket
    import threading

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=deployment.ca_cert_path)
    server_ctx.load_cert_chain(deployment.server_cert_path, deployment.server_key_path)
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.create_default_context(cafile=deployment.ca_cert_path)
    client_ctx.load_cert_chain(deployment.client_cert_path("tr"), deployment.client_key_path("tr"))
    a, b = socket.socketpair()
    seen = {}

    def serve():
        with server_ctx.wrap_socket(a, server_side=True) as s:
            seen["peer"] = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
            s.sendall(b"ok")

    t = threading.Thread(target=serve)
    t.start()
    with client_ctx.wrap_socket(b, server_hostname="localhost") as c:
        assert c.recv(2) == b"ok"
    t.join(10)
    assert seen["peer"] == "tr"


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("format = 1", "format = 9"), "format: expected 1, got 9"),
    (lambda t: t.replace('id = "tr"', 'id = "iq-mod"'), 'parties\\[3\\].id: duplicate party "iq-mod"'),
    (lambda t: t.replace('track = ["iq-mod", "sdf", "us"]', 'track = ["iq-mod", "nato"]'),
     r'policy.rules.track\[1\]: unknown party "nato"'),
    (lambda t: t.replace("text = ", "gossip = "), "policy.rules.gossip: unknown kind"),
    (lambda t: t.replace("public_key = \"", "public_key = \"AA", 1), r"parties\[0\].public_key: not an Ed25519"),
    (lambda t: t + "\n[[[", "not valid TOML"),
])
def test_load_names_the_bad_field(deployment, tmp_path, edit, message):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(deployment.path, copy)
    manifest = copy / "deployment.toml"
    manifest.write_text(edit(manifest.read_text()))
    with pytest.raises(ChannelError, match=message) as info:
        load_deployment(copy)
    assert "deployment.toml" in str(info.value)


def test_load_missing(tmp_path):
    with pytest.raises(ChannelError, match="no such deployment folder"):
        load_deployment(tmp_path / "nowhere")
    with pytest.raises(ChannelError, match="no deployment.toml in this folder"):
        load_deployment(tmp_path)
