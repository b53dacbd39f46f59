"""A channel deployment: the parties, their keys and certificates, and the policy.

`create_deployment(scenario, out_dir)` writes one folder::

    deployment.toml            parties, their public keys, the releasability policy
    ca/ca.crt  ca/ca.key       the deployment's own CA (key 0600)
    server/server.crt .key     the server's TLS certificate (localhost, 127.0.0.1)
    parties/<id>/signing.key   the party's Ed25519 envelope-signing key (0600)
    parties/<id>/signing.pub   its public half
    parties/<id>/client.crt    the party's TLS client certificate (CN = party id)
    parties/<id>/client.key    its key (0600)

The operator hands each party its own ``parties/<id>`` folder (plus
``ca/ca.crt`` and ``deployment.toml``) and keeps the rest. The folder is
built beside its destination and renamed into place, so a crash never leaves
half a deployment; the folder itself is 0700 since it holds every secret.

`load_deployment(path)` reads it back, checking every field, and names the
file and field of anything wrong.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import tomlkit
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ChannelError
from .envelope import KINDS, PARTY_ID, format_time, parse_time
from .keys import (PartyIdentity, load_identity, private_pem, public_key_from_text,
                   public_key_text, public_pem, write_private, write_public)
from .policy import Policy, scenario_source
from .tls import DEFAULT_SERVER_HOSTS, issue_client, issue_server, make_ca

FILE = "deployment.toml"
FORMAT = 1


@dataclass(frozen=True, slots=True)
class DeploymentParty:
    """A party as the deployment knows it: who, and the key its envelopes verify with."""

    id: str
    name: str
    role: str
    public_key: Ed25519PublicKey = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Deployment:
    """A loaded deployment folder. Paths of secrets are given; secrets load on demand."""

    path: Path
    id: str
    scenario: str
    created: datetime
    parties: tuple[DeploymentParty, ...]
    policy: Policy

    @property
    def party_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parties)

    def party(self, party_id: str) -> DeploymentParty:
        for p in self.parties:
            if p.id == party_id:
                return p
        raise ChannelError(f'{self.path / FILE}: unknown party "{party_id}" '
                           f"(known: {', '.join(self.party_ids)})")

    def public_key(self, party_id: str) -> Ed25519PublicKey:
        return self.party(party_id).public_key

    def identity(self, party_id: str) -> PartyIdentity:
        """Load `party_id`'s signing key, checking it is the one recorded for that party."""
        expected = public_key_text(self.party(party_id).public_key)
        ident = load_identity(self.signing_key_path(party_id), party_id)
        if public_key_text(ident.public_key) != expected:
            raise ChannelError(f"{self.signing_key_path(party_id)}: this key is not the one "
                               f'{FILE} records for "{party_id}"')
        return ident

    def signing_key_path(self, party_id: str) -> Path:
        return self.path / "parties" / party_id / "signing.key"

    def client_cert_path(self, party_id: str) -> Path:
        return self.path / "parties" / party_id / "client.crt"

    def client_key_path(self, party_id: str) -> Path:
        return self.path / "parties" / party_id / "client.key"

    @property
    def ca_cert_path(self) -> Path:
        return self.path / "ca" / "ca.crt"

    @property
    def server_cert_path(self) -> Path:
        return self.path / "server" / "server.crt"

    @property
    def server_key_path(self) -> Path:
        return self.path / "server" / "server.key"


def create_deployment(scenario: Any, out_dir: str | Path, *, overwrite: bool = False,
                      server_hosts: Sequence[str] = DEFAULT_SERVER_HOSTS) -> Deployment:
    """Create keys, certificates and the policy for `scenario`'s parties in `out_dir`.

    Refuses an existing non-empty `out_dir` unless `overwrite` is true, and
    even then replaces only a folder that holds a deployment (never some
    other folder that happens to be named).
    """
    out = Path(out_dir).absolute()
    _check_target(out, overwrite)
    for p in scenario.parties:
        if not PARTY_ID.fullmatch(p.id):
            raise ChannelError(f'{scenario.path.name}: parties: id "{p.id}" cannot name key files '
                               "and certificates (letters, digits, '.', '_', '-'; at most 64)")
    if not server_hosts:
        raise ChannelError("server_hosts: at least one host name or address is needed")
    policy = Policy.from_scenario(scenario)
    org = f"borderwatch {scenario.name}"
    now = datetime.now(timezone.utc)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # mode 0700
    try:
        ca = make_ca(org, now=now)
        (tmp / "ca").mkdir()
        write_public(tmp / "ca" / "ca.crt", ca.cert.public_bytes(serialization.Encoding.PEM))
        write_private(tmp / "ca" / "ca.key", private_pem(ca.key))
        server = issue_server(ca, org, tuple(server_hosts), now=now)
        (tmp / "server").mkdir()
        write_public(tmp / "server" / "server.crt", server.cert.public_bytes(serialization.Encoding.PEM))
        write_private(tmp / "server" / "server.key", private_pem(server.key))
        public: dict[str, str] = {}
        for p in scenario.parties:
            folder = tmp / "parties" / p.id
            folder.mkdir(parents=True)
            ident = PartyIdentity.generate(p.id)
            write_private(folder / "signing.key", private_pem(ident.private_key))
            write_public(folder / "signing.pub", public_pem(ident.public_key))
            client = issue_client(ca, org, p.id, now=now)
            write_public(folder / "client.crt", client.cert.public_bytes(serialization.Encoding.PEM))
            write_private(folder / "client.key", private_pem(client.key))
            public[p.id] = public_key_text(ident.public_key)
        write_public(tmp / FILE, _manifest(scenario, policy, public, now).encode("utf-8"))
        _move_into_place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_deployment(out)


def _check_target(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ChannelError(f"{out}: exists and is not a folder")
    if not any(out.iterdir()):
        return
    if not (out / FILE).is_file():
        raise ChannelError(f"{out}: folder is not empty and holds no {FILE}; "
                           "choose an empty or new folder")
    if not overwrite:
        raise ChannelError(f"{out}: a deployment already exists here; replacing it destroys "
                           "every party's keys (ask for overwrite to do so)")


def _move_into_place(tmp: Path, out: Path, overwrite: bool) -> None:
    if out.exists() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.rename(tmp, out)
        return
    _check_target(out, overwrite)  # re-check: someone may have written meanwhile
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
    os.rename(out, old / "d")
    os.rename(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _manifest(scenario: Any, policy: Policy, public: dict[str, str], now: datetime) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment("borderwatch channel deployment, written by `channel init`."))
    doc.add(tomlkit.comment("Public: parties, their envelope-signing keys, and who may receive what."))
    doc.add(tomlkit.nl())
    doc["format"] = FORMAT
    doc["id"] = str(uuid.uuid4())
    doc["scenario"] = scenario.name
    doc["created"] = format_time(now)
    parties = tomlkit.aot()
    for p in scenario.parties:
        t = tomlkit.table()
        t["id"] = p.id
        t["name"] = p.name
        t["role"] = p.role
        t["public_key"] = public[p.id]
        t["public_key"].comment("Ed25519, raw 32 bytes, base64")
        parties.append(t)
    doc["parties"] = parties
    pol = tomlkit.table()
    pol.add(tomlkit.comment("An envelope reaches the parties in both its own release list and "
                            "the rule for its kind, and always its sender."))
    pol["owner"] = policy.owner
    rules = tomlkit.table()
    for kind, ids in policy.to_dict()["rules"].items():
        rules[kind] = ids
        src = scenario_source(scenario, kind)
        rules[kind].comment(f"from releasability.{src}" if src else
                            "not in the scenario: owner only")
    pol["rules"] = rules
    doc["policy"] = pol
    return tomlkit.dumps(doc)


def load_deployment(path: str | Path) -> Deployment:
    """Read a deployment folder (or its ``deployment.toml``), validating every field."""
    path = Path(path)
    if path.name == FILE and path.is_file():
        path = path.parent
    manifest = path / FILE
    if not path.is_dir():
        raise ChannelError(f"{path}: no such deployment folder (create one with `channel init`)")
    if not manifest.is_file():
        raise ChannelError(f"{path}: no {FILE} in this folder; is it a channel deployment?")
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ChannelError(f"{manifest}: not valid TOML ({exc})") from None
    where = str(manifest)
    extra = sorted(set(data) - {"format", "id", "scenario", "created", "parties", "policy"})
    if extra:
        raise ChannelError(f"{where}: unknown key {extra[0]!r}")
    if data.get("format") != FORMAT:
        raise ChannelError(f"{where}: format: expected {FORMAT}, got {data.get('format')!r}")
    dep_id = _text(data, "id", where)
    scenario = _text(data, "scenario", where)
    created = parse_time(_text(data, "created", where), f"{where}: created")
    raw_parties = data.get("parties")
    if not isinstance(raw_parties, list) or not raw_parties:
        raise ChannelError(f"{where}: parties: at least one [[parties]] table is needed")
    parties = []
    seen: set[str] = set()
    for i, t in enumerate(raw_parties):
        at = f"{where}: parties[{i}]"
        if not isinstance(t, dict):
            raise ChannelError(f"{at}: must be a table")
        extra = sorted(set(t) - {"id", "name", "role", "public_key"})
        if extra:
            raise ChannelError(f"{at}: unknown key {extra[0]!r}")
        pid = _text(t, "id", at)
        if not PARTY_ID.fullmatch(pid):
            raise ChannelError(f"{at}.id: {pid!r} is not a valid party id")
        if pid in seen:
            raise ChannelError(f'{at}.id: duplicate party "{pid}"')
        seen.add(pid)
        parties.append(DeploymentParty(pid, _text(t, "name", at), _text(t, "role", at),
                                       public_key_from_text(t.get("public_key"), f"{at}.public_key")))
    ids = [p.id for p in parties]
    policy = Policy.from_dict(data.get("policy"), ids, f"{where}: policy")
    assert set(policy.rules) == set(KINDS)
    return Deployment(path.absolute(), dep_id, scenario, created, tuple(parties), policy)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ChannelError(f"{where}: {key}: missing, or not a non-empty string")
    return value
