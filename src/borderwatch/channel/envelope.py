"""Signed envelopes: what one party says to others on the channel.

An envelope is signed by its sender's Ed25519 key over its canonical encoding
(`Envelope.canonical`, RFC 8785 JSON of every field but the signature). The
parties do not trust each other or the server, so whatever a relay, a store
or an attacker changes — one byte of the body, the release list, the time —
the signature no longer verifies and the envelope is refused.

Envelopes arrive from the network, so `Envelope.from_json` reads them as
hostile input: exact field set, exact types, canonical forms (lower-case
UUID, microsecond UTC time, strict base64), size limits, and parties that
exist. Every refusal is a `ChannelError` naming the envelope and the field.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Union

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError

from ..errors import ChannelError
from .canonical import canonical_json, decode_json, escape_string

KINDS: tuple[str, ...] = ("sighting", "track", "breach", "request", "acknowledgement", "text")
"""The kinds of message the channel carries; releasability rules are per kind."""

FORMAT_VERSION = 1
SIGNATURE_CONTEXT = b"borderwatch/envelope/v1\x00"
"""Prefixed to the canonical bytes before signing, so that a party's key can
never be tricked into producing an envelope signature over some other kind
of document that happens to be the same JSON (domain separation)."""

MAX_ENVELOPE_BYTES = 512 * 1024
MAX_BODY_BYTES = 256 * 1024
MAX_CAVEAT_CHARS = 200
MAX_RELEASE_LIST = 64
PARTY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

_V_TAIL = f',"v":{FORMAT_VERSION}}}'.encode("ascii")   # how every canonical envelope ends
_FIELDS = ("v", "id", "sender", "kind", "created", "caveat", "releasable_to", "body", "signature")
_CREATED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LABEL_ID = re.compile(r"[0-9a-f-]+")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Body = Union[Mapping[str, Any], str]


@dataclass(frozen=True, slots=True)
class Envelope:
    """One signed message.

    `body` is a JSON object (a dict) or a string (a CoT ``<event>`` as XML);
    `created` is timezone-aware UTC with microsecond precision; `releasable_to`
    is the sender's own release list (the deployment's rules may narrow it,
    see `borderwatch.channel.policy`); `signature` is 64 Ed25519 bytes.
    """

    id: uuid.UUID
    sender: str
    kind: str
    body: Body
    created: datetime
    caveat: str
    releasable_to: tuple[str, ...]
    signature: bytes = field(default=b"", repr=False)

    # -- encodings -------------------------------------------------------

    def signed_fields(self) -> dict[str, Any]:
        """Every field the signature covers, as JSON values."""
        return {
            "v": FORMAT_VERSION,
            "id": str(self.id),
            "sender": self.sender,
            "kind": self.kind,
            "created": format_time(self.created),
            "caveat": self.caveat,
            "releasable_to": list(self.releasable_to),
            "body": self.body if isinstance(self.body, str) else dict(self.body),
        }

    def canonical(self) -> bytes:
        """The bytes that are signed: RFC 8785 JSON of `signed_fields`."""
        where = f"envelope {self.id}"
        body = canonical_json(self.body if isinstance(self.body, str) else dict(self.body),
                              where=f"{where}: body")
        return signed_bytes(str(self.id), self.sender, self.kind, format_time(self.created),
                            self.caveat, release_text(self.releasable_to, where),
                            body.decode("utf-8"))

    def to_dict(self) -> dict[str, Any]:
        """The wire form as a dict: the signed fields plus ``signature`` in base64."""
        out = self.signed_fields()
        out["signature"] = base64.b64encode(self.signature).decode("ascii")
        return out

    def to_json(self) -> bytes:
        """The wire form, canonically encoded (UTF-8 bytes).

        The canonical signed bytes with ``"signature"`` spliced in before ``"v"`` (the
        keys sort that way), so the body is encoded once, not re-encoded inside a dict.
        """
        return wire_json(self.canonical(), self.signature)

    # -- signatures ------------------------------------------------------

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise `ChannelError` unless `signature` is the sender's over `canonical()`."""
        if not verify_canonical(public_key, self.canonical(), self.signature):
            raise ChannelError(f"envelope {self.id}: signature does not verify with the key of "
                               f'"{self.sender}" (forged, or altered after signing)')

    # -- reading untrusted input -----------------------------------------

    @classmethod
    def from_json(cls, data: bytes | str | Mapping[str, Any], *,
                  parties: Collection[str] | None = None) -> "Envelope":
        """Parse and validate a wire envelope (bytes, text or an already-decoded dict).

        `parties`, when given, is the set of party ids of the deployment:
        the sender and every id in ``releasable_to`` must be one of them.
        The signature is *not* checked here (that needs the deployment's
        keys); `borderwatch.channel.store.Store.publish` checks it.
        """
        return read_envelope(data, parties=parties)[0]


def read_envelope(data: bytes | str | Mapping[str, Any], *,
                  parties: Collection[str] | None = None) -> tuple[Envelope, str]:
    """`Envelope.from_json`, also returning the body's canonical JSON text (which
    `Store.prepare` accepts, so that the body is not encoded twice)."""
    if isinstance(data, Mapping):
        obj: Any = data
    else:
        obj = decode_json(data, what="envelope", max_bytes=MAX_ENVELOPE_BYTES)
    if type(obj) is dict:
        fast = _read_valid(obj, parties)
        if fast is not None:
            return fast
    if not isinstance(obj, Mapping):
        raise ChannelError(f"envelope: must be a JSON object, got {_describe(obj)}")
    label = _label(obj)
    unknown = sorted(set(obj) - set(_FIELDS))
    if unknown:
        raise ChannelError(f"{label}: unknown field{'s' if len(unknown) > 1 else ''} "
                           f"{', '.join(repr(k) for k in unknown)} (expected {', '.join(_FIELDS)})")
    for key in _FIELDS:
        if key not in obj:
            raise ChannelError(f'{label}: field "{key}" is missing')
    v = obj["v"]
    if v != FORMAT_VERSION or isinstance(v, bool) or not isinstance(v, int):
        raise ChannelError(f'{label}: field "v" must be {FORMAT_VERSION}, got {_describe(v)}')
    env = Envelope(
        id=_parse_uuid(obj["id"], label),
        sender=_str(obj["sender"], label, "sender"),
        kind=_str(obj["kind"], label, "kind"),
        body=_body(obj["body"], label),
        created=parse_time(_str(obj["created"], label, "created"), f'{label}: field "created"'),
        caveat=_str(obj["caveat"], label, "caveat", nonempty=False),
        releasable_to=_release_list(obj["releasable_to"], label),
        signature=_signature(obj["signature"], label),
    )
    return env, check_envelope(env, parties)


def _read_valid(obj: dict[str, Any],
                parties: Collection[str] | None) -> tuple[Envelope, str] | None:
    """`read_envelope` of a decoded object for the common case, an envelope that passes
    every check, with the checks inlined and no error labels made; None at the first
    doubt, and the full path then reads it again (and words the refusal). It accepts
    only what the full path accepts, and builds the same envelope from it.
    """
    if len(obj) != len(_FIELDS):
        return None
    try:
        v, id_text, sender, kind = obj["v"], obj["id"], obj["sender"], obj["kind"]
        created_text, caveat, release = obj["created"], obj["caveat"], obj["releasable_to"]
        body, sig_text = obj["body"], obj["signature"]
    except KeyError:
        return None
    if (type(v) is not int or v != FORMAT_VERSION or type(id_text) is not str
            or type(sender) is not str or type(kind) is not str or type(caveat) is not str
            or type(created_text) is not str or type(sig_text) is not str
            or type(release) is not list or kind not in KINDS
            or not _CANONICAL_UUID.fullmatch(id_text) or not PARTY_ID.fullmatch(sender)
            or len(caveat) > MAX_CAVEAT_CHARS or _CONTROL.search(caveat)
            or not _CREATED.fullmatch(created_text)):
        return None
    try:
        release_key = tuple(release)
        if release_key not in _RELEASE_SEEN:     # lists seen before passed `_release_list`
            return None
        # The one form _CREATED matched, ending in Z: a UTC datetime, as parse_time makes
        # (the hour compared, should a Python read "24:00" as the next day's midnight).
        created = datetime.fromisoformat(created_text)
        if created.hour != int(created_text[11:13]):
            return None
        signature = binascii.a2b_base64(sig_text, strict_mode=True)
    except (TypeError, ValueError, binascii.Error):
        return None
    if len(signature) != 64 or binascii.b2a_base64(signature, newline=False) != sig_text.encode():
        return None
    if type(body) is dict:
        body = dict(body)
    elif type(body) is not str or not body.strip():
        return None
    body_bytes = _quick_body_bytes(body)
    if body_bytes is None or not _quick_known(sender, release_key, parties):
        return None
    env = Envelope(id=uuid.UUID(id_text), sender=sender, kind=kind, body=body,
                   created=created, caveat=caveat,
                   releasable_to=release_key, signature=signature)
    return env, body_bytes.decode("utf-8")


def make_envelope(key: Ed25519PrivateKey, sender: str, kind: str, body: Body, *,
                  releasable_to: Collection[str], caveat: str = "",
                  id: uuid.UUID | None = None, created: datetime | None = None,
                  parties: Collection[str] | None = None) -> Envelope:
    """Build, validate and sign an envelope from `sender` (whose private `key` this is).

    `created` defaults to now (UTC, truncated to microseconds), `id` to a
    random UUID. A `PartyIdentity` offers the same as ``identity.seal(...)``.
    """
    return _seal(key, sender, kind, body, releasable_to, caveat, id, created, parties)[0]


def make_envelope_text(key: Ed25519PrivateKey, sender: str, kind: str, body: Body, *,
                       releasable_to: Collection[str], caveat: str = "",
                       id: uuid.UUID | None = None, created: datetime | None = None,
                       parties: Collection[str] | None = None) -> tuple[Envelope, str]:
    """`make_envelope` and its body's canonical JSON text, checked as it was built: what
    `Store.prepare` takes as ``body_text`` instead of checking and encoding it again (a
    server storing the envelopes it seals itself: the TAK server's sightings)."""
    env, _, body_text = _seal(key, sender, kind, body, releasable_to, caveat, id, created, parties)
    return env, body_text


def make_envelope_json(key: Ed25519PrivateKey, sender: str, kind: str, body: Body, *,
                       releasable_to: Collection[str], caveat: str = "",
                       id: uuid.UUID | None = None, created: datetime | None = None,
                       parties: Collection[str] | None = None) -> tuple[Envelope, bytes]:
    """`make_envelope` and the new envelope's wire form (`Envelope.to_json`) together.

    For a sender that publishes at once: the canonical bytes just signed are
    reused for the wire form, where ``make_envelope(...).to_json()`` encodes
    the body a second time (a sixth of what sealing costs).
    """
    env, canonical, _ = _seal(key, sender, kind, body, releasable_to, caveat, id, created, parties)
    return env, wire_json(canonical, env.signature)


def _seal(key: Ed25519PrivateKey, sender: str, kind: str, body: Body,
          releasable_to: Collection[str], caveat: str, id: uuid.UUID | None,
          created: datetime | None, parties: Collection[str] | None) -> tuple[Envelope, bytes, str]:
    created = created or datetime.now(timezone.utc)
    if created.tzinfo is None:
        raise ChannelError("envelope: created must be timezone-aware (UTC)")
    env = Envelope(id=id or uuid.uuid4(), sender=sender, kind=kind,
                   body=body if isinstance(body, str) else dict(body),
                   created=created.astimezone(timezone.utc), caveat=caveat,
                   releasable_to=tuple(releasable_to))
    body_text = check_envelope(env, parties, signed=False)
    id_text = str(env.id)
    canonical = signed_bytes(id_text, sender, kind, format_time(env.created), caveat,
                             release_text(env.releasable_to, "envelope " + id_text), body_text)
    if len(canonical) > MAX_ENVELOPE_BYTES:
        raise ChannelError(f"envelope {id_text}: {len(canonical)} bytes, more than the limit of "
                           f"{MAX_ENVELOPE_BYTES}")
    return Envelope(id=env.id, sender=sender, kind=kind, body=env.body, created=env.created,
                    caveat=caveat, releasable_to=env.releasable_to,
                    signature=sign_message(key, SIGNATURE_CONTEXT + canonical)), canonical, body_text


def wire_json(canonical: bytes, signature: bytes) -> bytes:
    """An envelope's wire form from its canonical signed bytes and its signature: the
    signature spliced in before ``"v"`` (the keys sort that way), nothing re-encoded."""
    return (canonical[:-len(_V_TAIL)] + b',"signature":"' + base64.b64encode(signature)
            + b'"' + _V_TAIL)


def signed_bytes(id: str, sender: str, kind: str, created: str, caveat: str,
                 releasable_to: str, body: str) -> bytes:
    """`Envelope.canonical` from the fields' text, with `releasable_to` and `body` already
    canonical JSON: the object's keys are fixed, so it is assembled in sorted order
    rather than re-encoded (the store's hot path)."""
    e = escape_string
    text = ('{"body":' + body + ',"caveat":' + e(caveat) + ',"created":' + e(created)
            + ',"id":' + e(id) + ',"kind":' + e(kind) + ',"releasable_to":' + releasable_to
            + ',"sender":' + e(sender) + f',"v":{FORMAT_VERSION}}}')
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ChannelError(f"envelope {id}: contains a lone UTF-16 surrogate, not valid Unicode") from None


def verify_canonical(public_key: Ed25519PublicKey, canonical: bytes, signature: bytes) -> bool:
    """True when `signature` is valid for exactly these canonical bytes."""
    return verify_signature(public_key, signature, SIGNATURE_CONTEXT + canonical)


def check_envelope(env: Envelope, parties: Collection[str] | None = None, *,
                   signed: bool = True) -> str:
    """Validate the fields of an envelope built in Python (types, forms, sizes, parties).

    Returns the body's canonical JSON text, which callers may reuse.
    """
    fast = _check_valid(env, parties, signed)
    if fast is not None:
        return fast
    label = f"envelope {env.id}"
    if not isinstance(env.id, uuid.UUID):
        raise ChannelError(f'envelope: field "id" must be a UUID, got {_describe(env.id)}')
    for name in ("sender", "kind", "caveat"):
        if not isinstance(getattr(env, name), str):
            raise ChannelError(f'{label}: field "{name}" must be a string, '
                               f"got {_describe(getattr(env, name))}")
    if not PARTY_ID.fullmatch(env.sender):
        raise ChannelError(f'{label}: field "sender": {env.sender!r} is not a party id')
    if env.kind not in KINDS:
        raise ChannelError(f'{label}: field "kind": unknown kind {env.kind!r} '
                           f"(one of {', '.join(KINDS)})")
    if len(env.caveat) > MAX_CAVEAT_CHARS or _CONTROL.search(env.caveat):
        raise ChannelError(f'{label}: field "caveat": at most {MAX_CAVEAT_CHARS} characters, '
                           "no control characters")
    if not isinstance(env.created, datetime) or env.created.utcoffset() != timezone.utc.utcoffset(None):
        raise ChannelError(f'{label}: field "created" must be a UTC datetime')
    if not isinstance(env.releasable_to, tuple):
        raise ChannelError(f'{label}: field "releasable_to" must be a tuple of party ids')
    _release_list(list(env.releasable_to), label)
    body = env.body
    if not isinstance(body, (str, Mapping)):
        raise ChannelError(f'{label}: field "body" must be a JSON object or a CoT XML string, '
                           f"got {_describe(body)}")
    body_bytes = canonical_json(body if isinstance(body, str) else dict(body), where=f"{label}: body")
    size = len(body_bytes)
    if size > MAX_BODY_BYTES:
        raise ChannelError(f'{label}: field "body" is {size} bytes encoded, more than the limit '
                           f"of {MAX_BODY_BYTES}")
    if isinstance(body, str) and not body.strip():
        raise ChannelError(f'{label}: field "body" is an empty string')
    if signed and (not isinstance(env.signature, bytes) or len(env.signature) != 64):
        raise ChannelError(f'{label}: field "signature" must be 64 bytes (Ed25519)')
    if parties is not None:
        known = parties if isinstance(parties, (set, frozenset)) else set(parties)
        if env.sender not in known:
            raise ChannelError(f'{label}: field "sender": unknown party "{env.sender}" '
                               f"(known: {', '.join(sorted(known))})")
        for i, pid in enumerate(env.releasable_to):
            if pid not in known:
                raise ChannelError(f'{label}: field "releasable_to[{i}]": unknown party "{pid}" '
                                   f"(known: {', '.join(sorted(known))})")
    return body_bytes.decode("utf-8")


def _check_valid(env: Envelope, parties: Collection[str] | None, signed: bool) -> str | None:
    """`check_envelope` for the common case, an envelope that passes every check, with
    the checks inlined and no error labels made; None at the first doubt (the full
    checks then run and word the refusal). Accepts only what the full checks accept."""
    sender, kind, caveat, release, body = (env.sender, env.kind, env.caveat, env.releasable_to,
                                           env.body)
    try:
        if (type(env.id) is not uuid.UUID or type(sender) is not str or type(kind) is not str
                or type(caveat) is not str or kind not in KINDS or not PARTY_ID.fullmatch(sender)
                or len(caveat) > MAX_CAVEAT_CHARS or _CONTROL.search(caveat)
                or type(env.created) is not datetime or env.created.tzinfo is not timezone.utc
                or type(release) is not tuple or release not in _RELEASE_SEEN):
            return None
    except TypeError:          # an unhashable item in the release list
        return None
    if type(body) is str:
        if not body.strip():
            return None
    elif type(body) is not dict:
        return None
    if signed and (type(env.signature) is not bytes or len(env.signature) != 64):
        return None
    if not _quick_known(sender, release, parties):
        return None
    body_bytes = _quick_body_bytes(body)
    return None if body_bytes is None else body_bytes.decode("utf-8")


def _quick_body_bytes(body: Any) -> bytes | None:
    """The body's canonical JSON, or None where the full checks would refuse it (for the fast paths)."""
    try:
        body_bytes = canonical_json(body)
    except ChannelError:
        return None
    return body_bytes if len(body_bytes) <= MAX_BODY_BYTES else None


def _quick_known(sender: str, release: Any, parties: Any) -> bool:
    """True when `parties` is not given or names the sender and every party released to."""
    if parties is None:
        return True
    known = parties if isinstance(parties, (set, frozenset)) else set(parties)
    return sender in known and all(pid in known for pid in release)


def format_time(t: datetime) -> str:
    """UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fractional digits)."""
    t = t.astimezone(timezone.utc)
    # Not strftime: its %Y does not zero-pad years before 1000 on every platform.
    return (f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:"
            f"{t.second:02d}.{t.microsecond:06d}Z")


def parse_time(text: str, where: str = "time") -> datetime:
    """Read the one time format `format_time` writes, nothing looser."""
    if not _CREATED.fullmatch(text):
        raise ChannelError(f"{where}: {text!r} is not UTC time as YYYY-MM-DDTHH:MM:SS.ffffffZ")
    try:
        return datetime(int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]),
                        int(text[14:16]), int(text[17:19]), int(text[20:26]), tzinfo=timezone.utc)
    except ValueError:
        raise ChannelError(f"{where}: {text!r} is not a real date and time") from None


# -- field readers for untrusted input -------------------------------------


def _label(obj: Mapping[str, Any]) -> str:
    raw = obj.get("id")
    if isinstance(raw, str) and len(raw) <= 36 and _LABEL_ID.fullmatch(raw):
        return f"envelope {raw}"
    return "envelope"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _str(value: Any, label: str, field: str, *, nonempty: bool = True) -> str:
    if not isinstance(value, str):
        raise ChannelError(f'{label}: field "{field}" must be a string, got {_describe(value)}')
    if nonempty and not value:
        raise ChannelError(f'{label}: field "{field}" must not be empty')
    return value


def _parse_uuid(value: Any, label: str) -> uuid.UUID:
    text = _str(value, label, "id")
    parsed = uuid.UUID(text) if _CANONICAL_UUID.fullmatch(text) else None
    if parsed is None:
        raise ChannelError(f'{label}: field "id": {text[:40]!r} is not a UUID in canonical form '
                           "(lower-case, hyphenated)")
    return parsed


def _body(value: Any, label: str) -> Body:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return dict(value)
    raise ChannelError(f'{label}: field "body" must be a JSON object or a CoT XML string, '
                       f"got {_describe(value)}")


# Release lists repeat (a deployment has a handful of parties, and senders reuse a few
# lists), so each list that passed `_release_list` is remembered with its canonical JSON.
_RELEASE_SEEN: dict[tuple[str, ...], str] = {}
_RELEASE_SEEN_MAX = 4096


def release_text(release: tuple[str, ...] | list[str], where: str = "envelope") -> str:
    """The canonical JSON array of a release list (checked by `_release_list` first)."""
    key = tuple(release)
    try:
        text = _RELEASE_SEEN.get(key)
    except TypeError:        # an unhashable item: certainly not a list of party ids
        text = None
    if text is None:
        text = canonical_json(list(release), where=where).decode("utf-8")
    return text


def _release_list(value: Any, label: str) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        key = tuple(value)
        try:
            if key in _RELEASE_SEEN:
                return key
        except TypeError:
            pass
    if not isinstance(value, (list, tuple)):
        raise ChannelError(f'{label}: field "releasable_to" must be an array of party ids, '
                           f"got {_describe(value)}")
    if len(value) > MAX_RELEASE_LIST:
        raise ChannelError(f'{label}: field "releasable_to" names {len(value)} parties, '
                           f"more than the limit of {MAX_RELEASE_LIST}")
    seen: set[str] = set()
    for i, pid in enumerate(value):
        if not isinstance(pid, str) or not PARTY_ID.fullmatch(pid):
            raise ChannelError(f'{label}: field "releasable_to[{i}]": {_describe(pid)} is not a party id')
        if pid in seen:
            raise ChannelError(f'{label}: field "releasable_to[{i}]": "{pid}" is listed twice')
        seen.add(pid)
    key = tuple(value)
    if len(_RELEASE_SEEN) >= _RELEASE_SEEN_MAX:
        _RELEASE_SEEN.clear()
    _RELEASE_SEEN[key] = canonical_json(list(key), where=label).decode("utf-8")
    return key


def _signature(value: Any, label: str) -> bytes:
    text = _str(value, label, "signature")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    # Refuse non-canonical base64 too (stray bits in the padding), so that a
    # stored envelope has exactly one textual signature.
    if len(raw) != 64 or base64.b64encode(raw).decode("ascii") != text:
        raise ChannelError(f'{label}: field "signature" must be 64 bytes in standard base64')
    return raw


# -- verification on the hot path ------------------------------------------------------

_VERIFIERS: dict[int, tuple[Ed25519PublicKey, bytes]] = {}
_SIGNERS: dict[int, tuple[Ed25519PrivateKey, bytes]] = {}


def sign_message(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """The Ed25519 signature of `message` by `private_key` (64 bytes).

    libsodium (PyNaCl) when the key is a ``cryptography`` Ed25519 key: Ed25519
    signatures are deterministic (RFC 8032), so it writes exactly the bytes OpenSSL
    would, in about two thirds of the time (a test checks they are the same). Any
    other key object is asked to sign itself. The libsodium form is kept per key, and
    libsodium is called through PyNaCl's bindings (its `SigningKey` wraps every
    signature in objects this path does not need).
    """
    if not isinstance(private_key, Ed25519PrivateKey):
        return private_key.sign(message)
    entry = _SIGNERS.get(id(private_key))
    if entry is None or entry[0] is not private_key:
        seed = private_key.private_bytes(serialization.Encoding.Raw,
                                         serialization.PrivateFormat.Raw,
                                         serialization.NoEncryption())
        entry = (private_key, crypto_sign_seed_keypair(seed)[1])
        if len(_SIGNERS) > 4096:
            _SIGNERS.clear()
        _SIGNERS[id(private_key)] = entry
    return crypto_sign(message, entry[1])[:64]


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (what libsodium takes), kept per key."""
    entry = _VERIFIERS.get(id(public_key))
    if entry is None or entry[0] is not public_key:
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        entry = (public_key, raw)
        if len(_VERIFIERS) > 4096:
            _VERIFIERS.clear()
        _VERIFIERS[id(public_key)] = entry
    return entry[1]


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    """True when `signature` is a valid Ed25519 signature of `message` by `public_key`.

    Every signature check in borderwatch (publish, tokens, the client, `channel audit
    verify`) comes here. libsodium (PyNaCl) rather than OpenSSL: on this project's
    machines it verifies in about 57 µs against OpenSSL's 108 µs, and verification is
    most of the channel's CPU per envelope. libsodium is the stricter of the two (it also
    refuses small-order keys and non-canonical encodings); a property test checks that both
    give the same answer on signatures ``cryptography`` makes and on altered ones. Keys
    are the deployment's ``cryptography`` objects; their raw form is kept per key, and
    libsodium's ``crypto_sign_open`` is called through PyNaCl's bindings (what
    ``VerifyKey.verify`` does, less its wrapping).
    """
    raw = raw_public_key(public_key)
    if not isinstance(signature, bytes) or not isinstance(message, bytes):
        raise TypeError("signature and message must be bytes")
    return verify_raw(raw, signature, message)


def verify_raw(raw_key: bytes, signature: bytes, message: bytes) -> bool:
    """`verify_signature` for a raw 32-byte key and bytes (what the signature helper of
    `batch_verify` gets, keys being raw bytes there)."""
    if len(signature) != 64:
        return False
    try:
        crypto_sign_open(signature + message, raw_key)
    except BadSignatureError:
        return False
    return True
