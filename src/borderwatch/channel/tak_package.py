"""An ATAK data package: one ``.zip`` that points a TAK client at the server with a party's certificate.

Import it in ATAK (Import → Local SD, or open the file) and the client gets
a streaming connection ``HOST:8089:ssl`` with the party's client
certificate and the deployment's CA as its truststore. Layout, as TAK
Server's own connection packages and ATAK's MissionPackageManifest v2::

    MANIFEST/manifest.xml       uid, name, onReceiveImport/Delete, the entries below
    certs/config.pref           cot_streams (connectString0 host:port:ssl, per-stream
                                cert paths and passwords) and the app's default certs
    certs/<party>.p12           client certificate + key (CN = party id)
    certs/truststore.p12        the deployment CA (no key)

ATAK copies imported certificates into its ``cert/`` folder, so the
preferences name them ``cert/<file>``. Both PKCS#12 files use the legacy
SHA1/3DES PBE and SHA-1 MAC, which every Android/BouncyCastle and Windows
TAK build reads (AES-256 PKCS#12 is refused by older ATAK). The password
protects both; give one or let `make_tak_package` generate it — it is
returned once and stored nowhere.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ..errors import ChannelError
from .deployment import Deployment

TRUSTSTORE = "truststore.p12"
MIN_PASSWORD = 6


@dataclass(frozen=True, slots=True)
class TakPackage:
    """What `make_tak_package` wrote: where, for whom, which server, and the password."""

    path: Path
    party: str
    host: str
    port: int
    password: str
    generated: bool               # True when the password was generated here (show it once)
    warnings: tuple[str, ...] = ()


def _p12_encryption(password: str):
    return (serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(50_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(password.encode("utf-8")))


def _server_names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(n) for n in san.get_values_for_type(x509.DNSName)} | \
        {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def _pref(description: str, host: str, port: int, client: str, password: str) -> str:
    def entry(key: str, cls: str, value: str) -> str:
        return f'    <entry key="{key}" class="class java.lang.{cls}">{_text(value)}</entry>\n'

    return ("<?xml version='1.0' encoding='ASCII' standalone='yes'?>\n<preferences>\n"
            '  <preference version="1" name="cot_streams">\n'
            + entry("count", "Integer", "1")
            + entry("description0", "String", description)
            + entry("enabled0", "Boolean", "true")
            + entry("connectString0", "String", f"{host}:{port}:ssl")
            + entry("caLocation0", "String", f"cert/{TRUSTSTORE}")
            + entry("caPassword0", "String", password)
            + entry("certificateLocation0", "String", f"cert/{client}")
            + entry("clientPassword0", "String", password)
            + entry("useAuth0", "Boolean", "false")
            + "  </preference>\n"
            '  <preference version="1" name="com.atakmap.app_preferences">\n'
            + entry("displayServerConnectionWidget", "Boolean", "true")
            + entry("caLocation", "String", f"cert/{TRUSTSTORE}")
            + entry("caPassword", "String", password)
            + entry("certificateLocation", "String", f"cert/{client}")
            + entry("clientPassword", "String", password)
            + "  </preference>\n</preferences>\n")


def _text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _manifest(uid: str, name: str, entries: list[str]) -> str:
    contents = "".join(f"      <Content ignore=\"false\" zipEntry={quoteattr(e)}/>\n" for e in entries)
    return ('<MissionPackageManifest version="2">\n   <Configuration>\n'
            f'      <Parameter name="uid" value={quoteattr(uid)}/>\n'
            f'      <Parameter name="name" value={quoteattr(name)}/>\n'
            '      <Parameter name="onReceiveImport" value="true"/>\n'
            '      <Parameter name="onReceiveDelete" value="true"/>\n'
            f"   </Configuration>\n   <Contents>\n{contents}   </Contents>\n</MissionPackageManifest>\n")


def make_tak_package(deployment: Deployment, party: str, out: str | Path, *, host: str = "127.0.0.1",
                     port: int = 8089, password: str | None = None,
                     description: str | None = None) -> TakPackage:
    """Write the ATAK data package for `party` to `out` (a ``.zip``), atomically.

    `host` is the address the phone will connect to; it should be one of the
    server certificate's names (a warning says so when it is not: create the
    deployment with that host among its server names).
    """
    dep = deployment
    dep.party(party)                                 # unknown party: ChannelError naming the known
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ChannelError(f"{out}: a data package is a .zip file")
    if not 0 < int(port) < 65536:
        raise ChannelError(f"port must be 1-65535, got {port}")
    if not host or any(c in host for c in " :/<>&\"'"):
        raise ChannelError(f"host {host!r}: give a host name or an IPv4 address (no port)")
    generated = password is None
    password = password if password is not None else secrets.token_urlsafe(12)
    if len(password) < MIN_PASSWORD:
        raise ChannelError(f"password: at least {MIN_PASSWORD} characters (ATAK refuses shorter)")
    try:
        ca = x509.load_pem_x509_certificate(dep.ca_cert_path.read_bytes())
        cert = x509.load_pem_x509_certificate(dep.client_cert_path(party).read_bytes())
        key = serialization.load_pem_private_key(dep.client_key_path(party).read_bytes(), None)
        server = x509.load_pem_x509_certificate(dep.server_cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ChannelError(f"{dep.path}: cannot read the certificates for {party} ({exc})") from None
    warnings = []
    names = _server_names(server)
    try:
        host_key = str(ipaddress.ip_address(host))
    except ValueError:
        host_key = host
    if host_key not in names:
        warnings.append(f"{host} is not among the server certificate's names ({', '.join(sorted(names))}); "
                        "clients that check the host name will refuse the server")
    enc = _p12_encryption(password)
    client_name = f"{party}.p12"
    client_p12 = pkcs12.serialize_key_and_certificates(party.encode(), key, cert, [ca], enc)
    trust_p12 = pkcs12.serialize_key_and_certificates(b"borderwatch-ca", None, None, [ca], enc)
    desc = description or f"borderwatch {dep.scenario} ({party})"
    entries = ["certs/config.pref", f"certs/{client_name}", f"certs/{TRUSTSTORE}"]
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"borderwatch:{dep.id}:{party}:{host}:{port}"))
    out.parent.mkdir(parents=True, exist_ok=True)
    # It holds a private key: written 0600 beside its destination, then renamed into place.
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".zip", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("MANIFEST/manifest.xml", _manifest(uid, out.name, entries))
            z.writestr("certs/config.pref", _pref(desc, host, int(port), client_name, password))
            z.writestr(f"certs/{client_name}", client_p12)
            z.writestr(f"certs/{TRUSTSTORE}", trust_p12)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return TakPackage(out, party, host, int(port), password, generated, tuple(warnings))
