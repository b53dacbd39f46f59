"""The deployment's own certificate authority and its TLS certificates.

The channel server and its clients authenticate each other with mutual TLS:
the server presents a certificate for ``localhost``/``127.0.0.1`` (and any
names the operator adds), each party presents a client certificate whose
Common Name is its party id. All are issued by a CA created for this one
deployment, so no public CA is trusted and none is needed.

TLS keys are ECDSA P-256, not Ed25519: every TLS stack the channel meets
(Python's ssl, browsers, ATAK/WinTAK) accepts P-256, while Ed25519
certificates are still refused by many. Envelope signatures, which only
borderwatch checks, use Ed25519 (`borderwatch.channel.keys`).
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_SERVER_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True, slots=True)
class Issued:
    """A key and the certificate for it."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(organisation: str, *, days: int = 3650, now: datetime | None = None) -> Issued:
    """A self-signed CA that may sign end-entity certificates only (path length 0)."""
    now = now or datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{organisation} channel CA", organisation)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(key, cert)


def _leaf(ca: Issued, subject: x509.Name, usage: x509.ObjectIdentifier, days: int,
          now: datetime | None, san: x509.SubjectAlternativeName | None) -> Issued:
    now = now or datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                       critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return Issued(key, builder.sign(ca.key, hashes.SHA256()))


def issue_server(ca: Issued, organisation: str, hosts: Sequence[str] = DEFAULT_SERVER_HOSTS, *,
                 days: int = 825, now: datetime | None = None) -> Issued:
    """The server's certificate; `hosts` become DNS or IP subject alternative names."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return _leaf(ca, _name(hosts[0], organisation), ExtendedKeyUsageOID.SERVER_AUTH, days, now,
                 x509.SubjectAlternativeName(names))


def issue_client(ca: Issued, organisation: str, party: str, *, days: int = 825,
                 now: datetime | None = None) -> Issued:
    """A party's client certificate: Common Name = party id (what the server authenticates)."""
    return _leaf(ca, _name(party, organisation), ExtendedKeyUsageOID.CLIENT_AUTH, days, now, None)


def common_name(cert: x509.Certificate) -> str:
    """The subject's Common Name (a party id for client certificates)."""
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def server_context(cert_path, key_path, ca_path) -> ssl.SSLContext:
    """Server side of mutual TLS (the channel API and the TAK port): this server's
    certificate, TLS 1.2 or later, and a client certificate from the deployment's CA
    required (its Common Name is the party the client speaks for)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert_path), str(key_path))
    ctx.load_verify_locations(cafile=str(ca_path))
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx
