"""Party identities (Ed25519) and the files their keys live in.

Each party signs its envelopes with its own Ed25519 key; every other party
and the server hold only its public key. A private key file is created with
mode 0600 by `os.open` itself (never written world-readable and chmod-ed
afterwards, which would leave a window), and is refused on reading when
anyone but its owner may read it — the same rule ssh applies to its keys.

Deployments (many parties' keys, certificates and the policy) are made and
read in `borderwatch.channel.deployment`; `create_deployment` and
`load_deployment` are re-exported here for convenience.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..errors import ChannelError
from .envelope import Body, Envelope, make_envelope, make_envelope_json, make_envelope_text

if TYPE_CHECKING:
    import uuid
    from datetime import datetime

    from .deployment import Deployment

PRIVATE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class PartyIdentity:
    """A party's id and private signing key: what it needs to publish."""

    party: str
    private_key: Ed25519PrivateKey = field(repr=False)

    @classmethod
    def generate(cls, party: str) -> "PartyIdentity":
        return cls(party, Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def seal(self, kind: str, body: Body, *, releasable_to: Collection[str], caveat: str = "",
             id: "uuid.UUID | None" = None, created: "datetime | None" = None,
             parties: Collection[str] | None = None) -> Envelope:
        """A new envelope from this party, signed."""
        return make_envelope(self.private_key, self.party, kind, body, releasable_to=releasable_to,
                             caveat=caveat, id=id, created=created, parties=parties)

    def seal_text(self, kind: str, body: Body, *, releasable_to: Collection[str], caveat: str = "",
                  id: "uuid.UUID | None" = None, created: "datetime | None" = None,
                  parties: Collection[str] | None = None) -> tuple[Envelope, str]:
        """`seal` and the body's canonical JSON text (`Store.prepare`'s ``body_text``)."""
        return make_envelope_text(self.private_key, self.party, kind, body, releasable_to=releasable_to,
                                  caveat=caveat, id=id, created=created, parties=parties)

    def seal_json(self, kind: str, body: Body, *, releasable_to: Collection[str],
                  caveat: str = "", id: "uuid.UUID | None" = None,
                  created: "datetime | None" = None,
                  parties: Collection[str] | None = None) -> bytes:
        """``seal(...).to_json()`` in one pass: the wire form of a new signed envelope."""
        return make_envelope_json(self.private_key, self.party, kind, body,
                                  releasable_to=releasable_to, caveat=caveat, id=id,
                                  created=created, parties=parties)[1]


def public_key_text(key: Ed25519PublicKey) -> str:
    """The 32 raw public-key bytes in base64, as `deployment.toml` records them."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def public_key_from_text(text: Any, where: str) -> Ed25519PublicKey:
    """Read `public_key_text`'s form back; `where` names the field for errors."""
    if not isinstance(text, str):
        raise ChannelError(f"{where}: must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ChannelError(f"{where}: not an Ed25519 public key (32 bytes in base64)")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_pem(key: Any) -> bytes:
    """PKCS#8 PEM, unencrypted: the file's mode is what protects it."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the first byte on; never replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # the umask may only have removed bits; make it exact
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_public(path: Path, data: bytes) -> None:
    """Create a file anyone may read (0644 less the umask); never replace an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def read_private_key(path: Path) -> Any:
    """Load a PEM private key, refusing a file that others may read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ChannelError(f"{path}: private key file not found") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ChannelError(f"{path}: private key is accessible to others "
                           f"(mode {stat.S_IMODE(st.st_mode):04o}); run chmod 600 on it")
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ChannelError(f"{path}: not an unencrypted PEM private key ({exc})") from None


def load_identity(path: Path, party: str) -> PartyIdentity:
    """A party's signing identity from its private key file."""
    key = read_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ChannelError(f"{path}: not an Ed25519 private key")
    return PartyIdentity(party, key)


def create_deployment(*args: Any, **kwargs: Any) -> "Deployment":
    """See `borderwatch.channel.deployment.create_deployment`."""
    from .deployment import create_deployment as create

    return create(*args, **kwargs)


def load_deployment(*args: Any, **kwargs: Any) -> "Deployment":
    """See `borderwatch.channel.deployment.load_deployment`."""
    from .deployment import load_deployment as load

    return load(*args, **kwargs)
