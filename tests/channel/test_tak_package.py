"""The ATAK data package: TAK's layout, readable PKCS#12, and PyTAK connects with what is inside."""

from __future__ import annotations

import asyncio
import stat
import warnings
import zipfile
from configparser import ConfigParser

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree

from borderwatch.channel import Store
from borderwatch.channel.tak_package import make_tak_package
from borderwatch.channel.tak_server import TakServer
from borderwatch.errors import ChannelError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pytak


def test_package_layout_manifest_and_preferences(deployment, tmp_path):
    pkg = make_tak_package(deployment, "sdf", tmp_path / "sdf.zip", host="127.0.0.1", port=8089)
    assert pkg.generated and len(pkg.password) >= 12 and not pkg.warnings
    assert stat.S_IMODE(pkg.path.stat().st_mode) == 0o600
    with zipfile.ZipFile(pkg.path) as z:
        names = set(z.namelist())
        assert names == {"MANIFEST/manifest.xml", "certs/config.pref", "certs/sdf.p12", "certs/truststore.p12"}
        manifest = etree.fromstring(z.read("MANIFEST/manifest.xml"))
        pref = etree.fromstring(z.read("certs/config.pref"))
        client = pkcs12.load_key_and_certificates(z.read("certs/sdf.p12"), pkg.password.encode())
        trust = pkcs12.load_key_and_certificates(z.read("certs/truststore.p12"), pkg.password.encode())
    assert manifest.tag == "MissionPackageManifest" and manifest.get("version") == "2"
    assert {c.get("zipEntry") for c in manifest.iter("Content")} == names - {"MANIFEST/manifest.xml"}
    params = {p.get("name"): p.get("value") for p in manifest.iter("Parameter")}
    assert params["name"] == "sdf.zip" and params["onReceiveImport"] == "true"
    streams = {e.get("key"): e.text for e in pref.find("preference[@name='cot_streams']")}
    assert streams["count"] == "1" and streams["connectString0"] == "127.0.0.1:8089:ssl"
    assert streams["certificateLocation0"] == "cert/sdf.p12" and streams["caLocation0"] == "cert/truststore.p12"
    key, cert, extra = client
    assert cert.subject.rfc4514_string().startswith("CN=sdf") and key is not None
    assert trust[0] is None and trust[1] is None and len(trust[2]) == 1


def test_host_not_in_the_server_certificate_warns_and_bad_input_is_refused(deployment, tmp_path):
    pkg = make_tak_package(deployment, "us", tmp_path / "us.zip", host="10.1.2.3", password="atakatak")
    assert not pkg.generated and pkg.password == "atakatak"
    assert "10.1.2.3 is not among the server certificate's names" in pkg.warnings[0]
    with pytest.raises(ChannelError, match="unknown party"):
        make_tak_package(deployment, "nobody", tmp_path / "x.zip")
    with pytest.raises(ChannelError, match=r"\.zip"):
        make_tak_package(deployment, "us", tmp_path / "x.tar")
    with pytest.raises(ChannelError, match="at least"):
        make_tak_package(deployment, "us", tmp_path / "x.zip", password="abc")


def test_pytak_connects_with_the_packaged_pkcs12(deployment, iraq_syria, tmp_path):
    pkg = make_tak_package(deployment, "sdf", tmp_path / "sdf.zip")
    with zipfile.ZipFile(pkg.path) as z:
        p12 = tmp_path / "sdf.p12"
        p12.write_bytes(z.read("certs/sdf.p12"))
        _, _, cas = pkcs12.load_key_and_certificates(z.read("certs/truststore.p12"), pkg.password.encode())
    ca = tmp_path / "ca.pem"
    ca.write_bytes(cas[0].public_bytes(serialization.Encoding.PEM))

    async def main():
        with Store(tmp_path / "c.db", deployment) as store:
            async with TakServer(deployment, store, iraq_syria, tls_port=0, tcp_port=None) as srv:
                cfg = ConfigParser()
                cfg["c"] = {"COT_URL": f"tls://127.0.0.1:{srv.tls_port}", "PYTAK_TLS_CLIENT_CERT": str(p12),
                            "PYTAK_TLS_CLIENT_PASSWORD": pkg.password, "PYTAK_TLS_CLIENT_CAFILE": str(ca)}
                _, writer = await pytak.protocol_factory(cfg["c"])
                for _ in range(100):
                    if srv.clients:
                        break
                    await asyncio.sleep(0.02)
                assert [c.party for c in srv.clients] == ["sdf"]
                writer.close()

    asyncio.run(main())


def test_cli_writes_the_package_and_prints_the_password_once(deployment, tmp_path):
    from typer.testing import CliRunner

    from borderwatch.cli.main import app

    out = tmp_path / "tr.zip"
    res = CliRunner().invoke(app, ["channel", "tak-package", str(deployment.path), "--party", "tr",
                                   "-o", str(out), "--host", "localhost"])
    assert res.exit_code == 0, res.output
    assert "connects to localhost:8089:ssl" in res.output
    password = res.output.split("stored nowhere): ")[1].split()[0]
    with zipfile.ZipFile(out) as z:
        key, cert, _ = pkcs12.load_key_and_certificates(z.read("certs/tr.p12"), password.encode())
    assert cert.subject.rfc4514_string().startswith("CN=tr")
