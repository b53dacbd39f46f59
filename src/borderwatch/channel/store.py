"""The durable store: envelopes, who may see them, cursors and acknowledgements.

`Store(url, deployment)` opens (and on first use creates) the tables in a
SQLite file or a PostgreSQL database. Publishing checks each envelope (form,
parties, the sender's signature), decides its recipients with the
deployment's policy, links it into the audit chain, and commits; a batch
(`publish_many`) is one transaction, so it is stored whole or not at all.
Publishing is idempotent: an id already stored with the same content is
stored once and answered with the first receipt; the same id with other
content is refused, since ids are never reused.

Reading is always on behalf of a party, and every read (`fetch`, `get`,
`search`, `count`, `acknowledgements`) goes through that party's recipient
rows, so nothing unreleased can be seen, listed, searched or counted — not
even through an error message, which reads the same for "no such envelope"
and "not released to you". Parties see their own positions (1, 2, 3 … in
their stream), never the global sequence.

Resuming exactly once: a client reads ``fetch(party)`` (from its cursor),
handles the messages, then ``advance(party, last_position)``. After a
disconnect, ``fetch(party)`` starts right after the last position it
advanced to — nothing skipped (positions are dense and handed out in commit
order), nothing repeated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from ..errors import ChannelError
from .canonical import canonical_json, escape_string
from .deployment import Deployment
from .envelope import (PARTY_ID, SIGNATURE_CONTEXT, Envelope, check_envelope, format_time,
                       parse_time, raw_public_key, release_text, signed_bytes, verify_canonical)
from .schema import (GENESIS, WRITE, acks, chain_head, cursors, envelopes, make_engine, meta,
                     metadata, recipients)

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_IN_CHUNK = 500  # ids per IN (...) list; far below every backend's parameter limit


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the sender learns when its envelope is stored (or was already)."""

    id: uuid.UUID
    position: int                 # the envelope's position in the sender's own stream
    recipients: tuple[str, ...]   # who receives it (release list ∩ rules, plus the sender)
    withheld: tuple[str, ...]     # released by the sender but refused by the rules
    stored: datetime
    duplicate: bool = False       # already stored by an earlier publish
    positions: tuple[tuple[str, int], ...] = ()  # each recipient's position (new envelopes only)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An envelope as one party receives it."""

    position: int
    envelope: Envelope
    stored: datetime


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    envelope_id: uuid.UUID
    party: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last record of the audit chain: its seq and hash (GENESIS when empty)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """An envelope checked and ready to commit (see `Store.prepare`)."""

    envelope: Envelope
    recipients: tuple[str, ...]
    withheld: tuple[str, ...]
    row: dict[str, Any] = field(repr=False)
    signed: bytes = field(repr=False)  # canonical bytes, to compare re-sent envelopes


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A stored row exactly as the database holds it, for the audit."""

    seq: int
    row: dict[str, Any]
    recipients: dict[str, int]


def record_bytes(row: dict[str, Any], recipients: dict[str, int]) -> bytes:
    """What a record's hash covers: the signed envelope with its signature, its seq, the
    stored time and the recipients with their positions — everything the store decides
    or keeps — as the canonical JSON object::

        {"envelope":{"body":…,"caveat":…,"created":…,"id":…,"kind":…,"releasable_to":…,
                     "sender":…,"signature":…},"recipients":{party:position,…},"seq":…,"stored":…}

    ``body`` and ``releasable_to`` go in exactly as stored (the store writes them in
    canonical form), so this is assembled from the row's text without re-encoding,
    and any edit of those columns, even a cosmetic one, changes the hash.
    """
    e = escape_string
    envelope = ('{"body":' + row["body"] + ',"caveat":' + e(row["caveat"])
                + ',"created":' + e(row["created"]) + ',"id":' + e(row["id"])
                + ',"kind":' + e(row["kind"]) + ',"releasable_to":' + row["releasable_to"]
                + ',"sender":' + e(row["sender"]) + ',"signature":' + e(row["signature"]) + "}")
    return ('{"envelope":' + envelope + ',"recipients":' + _recipients_json(recipients, row["seq"])
            + ',"seq":' + str(int(row["seq"])) + ',"stored":' + e(row["stored"]) + "}"
            ).encode("utf-8", "surrogatepass")


_ENVELOPE_COLUMNS = ("seq", "id", "sender", "kind", "created", "caveat", "releasable_to", "body",
                     "signature", "stored", "prev_hash", "hash")
_RECIPIENT_COLUMNS = ("seq", "party", "position")
_V_TAIL = b',"v":1}'


def _record_prefix(p: Prepared) -> bytes:
    """``{"envelope":{…},"recipients":`` of `record_bytes` for a prepared envelope: its
    canonical signed bytes less ``"v"``, plus the signature (the envelope object of a
    record has the same keys in the same order, and the same text), so the commit
    appends only what it decides: recipients, seq and stored time."""
    signed = p.signed
    if not signed.endswith(_V_TAIL):
        raise ChannelError(f"envelope {p.envelope.id}: unexpected canonical form")
    return (b'{"envelope":' + signed[:-len(_V_TAIL)] + b',"signature":"'
            + p.row["signature"].encode("ascii") + b'"},"recipients":')


def _recipients_json(recipients: dict[str, int], seq: Any) -> str:
    # Party ids are ASCII (PARTY_ID) and positions whole numbers: code-point order is
    # RFC 8785's order and str() its number form, so the common case skips the encoder.
    if all(k.isascii() and type(v) is int for k, v in recipients.items()):
        return "{" + ",".join(escape_string(k) + ":" + str(recipients[k])
                              for k in sorted(recipients)) + "}"
    return canonical_json(recipients, where=f"record {seq}").decode("utf-8")


def chain_hash(prev_hash: str, record: bytes) -> str:
    """SHA-256(prev_hash bytes || record bytes), hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + record).hexdigest()


def envelope_from_row(row: Any) -> Envelope:
    """Rebuild an envelope from its stored columns (no validation beyond parsing)."""
    try:
        return Envelope(
            id=uuid.UUID(row.id), sender=row.sender, kind=row.kind,
            body=json.loads(row.body), created=parse_time(row.created),
            caveat=row.caveat, releasable_to=tuple(json.loads(row.releasable_to)),
            signature=base64.b64decode(row.signature, validate=True))
    except (ValueError, TypeError, ChannelError) as exc:
        raise ChannelError(f"store: record {row.seq} is damaged ({exc}); run the audit") from None


class _Conflict(ChannelError):
    """A unique key was taken by a concurrent writer; the operation may be retried."""


def _retry_once(fn: Any) -> Any:
    # Two connections may race to create the same cursor or acknowledgement row
    # (PostgreSQL does not serialise them as SQLite does); the loser retries and
    # then sees the winner's row.
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except _Conflict:
            return fn(*args, **kwargs)
    wrapper.__doc__, wrapper.__name__ = fn.__doc__, fn.__name__
    return wrapper


class Store:
    """A channel store for one deployment. Thread-safe; use one per process."""

    def __init__(self, url: str | Path, deployment: Deployment, *, create: bool = True) -> None:
        self.deployment = deployment
        self.policy = deployment.policy
        self._keys = {p.id: p.public_key for p in deployment.parties}
        self._routes: dict[Any, Any] = {}     # see `_route`
        # (seq, hash, each party's last position) as our last commit left them; trusted
        # only while the chain head still reads (seq, hash). See `commit`.
        self._tail: tuple[int, str, dict[str, int]] | None = None
        self.engine = make_engine(url)
        self.url = self.engine.url.render_as_string(hide_password=True)
        try:
            self._init_schema(create)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise ChannelError(f"{self.url}: cannot open the channel store ({_reason(exc)})") from None
        except BaseException:
            self.engine.dispose()
            raise

    def _init_schema(self, create: bool) -> None:
        if create:
            for attempt in range(3):
                try:
                    # Under the write lock (SQLite: BEGIN IMMEDIATE), so that two
                    # processes opening a new store at once do not deadlock.
                    with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                        metadata.create_all(conn)
                    break
                except SQLAlchemyError:
                    # PostgreSQL: another process created the tables first; look again.
                    if attempt == 2:
                        raise
        for attempt in range(3):
            try:
                with self.engine.connect().execution_options(**WRITE) as conn, conn.begin():
                    stored = conn.execute(select(meta.c.value)
                                          .where(meta.c.key == "deployment")).scalar()
                    if stored is None:
                        conn.execute(insert(meta).values(key="deployment", value=self.deployment.id))
                        conn.execute(insert(chain_head).values(id=1, seq=0, hash=GENESIS))
                        stored = self.deployment.id
                break
            except IntegrityError:
                # Another process initialised the store meanwhile; read what it wrote.
                if attempt == 2:
                    raise
        if stored != self.deployment.id:
            raise ChannelError(f"{self.url}: this store belongs to deployment {stored}, "
                               f"not {self.deployment.id} ({self.deployment.path})")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------

    def _write(self) -> "_Txn":
        return _Txn(self, write=True)

    def _read(self) -> "_Txn":
        return _Txn(self, write=False)

    def reading(self) -> "_Txn":
        """A read-only transaction over the raw tables (operator tools such as the audit)."""
        return _Txn(self, write=False)

    # -- publishing --------------------------------------------------------

    def prepare(self, envelope: Envelope, *, body_text: str | None = None,
                signed_here: bool = False, verify: bool = True) -> Prepared:
        """Check an envelope (form, parties, signature) and work out its recipients.

        Raises `ChannelError` naming the envelope and the reason. Pure CPU,
        no database: callers may run it in their own threads. `body_text`,
        when given, is what `read_envelope` returned with this envelope (its
        fields already checked, the body's canonical JSON): the field checks
        are not repeated, the parties and the signature still are.

        `signed_here` is for envelopes this process has just sealed with
        ``deployment.identity(sender)`` of this store's deployment (the TAK
        server signing on an authenticated client's behalf): that call checks
        the private key against the deployment's public key, so the signature
        verifies by construction and checking it again would only double the
        cost of every sighting. Everything else is still checked, and
        ``channel audit verify`` still verifies every stored signature.

        `verify=False` leaves the signature to the caller, who must check it before
        committing (`signature_item` gives what to check; the API checks a batch's
        signatures together in a helper process, `batch_verify`).
        """
        if not isinstance(envelope, Envelope):
            raise ChannelError(f"publish: expected an Envelope, got {type(envelope).__name__}")
        if body_text is None:
            body = check_envelope(envelope, self._keys)
        else:
            body = body_text
            for pid in (envelope.sender, *envelope.releasable_to):
                if pid not in self._keys:
                    check_envelope(envelope, self._keys)   # raises, naming the field
        row = {"id": str(envelope.id), "sender": envelope.sender, "kind": envelope.kind,
               "created": format_time(envelope.created), "caveat": envelope.caveat,
               "releasable_to": release_text(envelope.releasable_to),
               "body": body, "signature": base64.b64encode(envelope.signature).decode("ascii")}
        signed = signed_bytes(row["id"], row["sender"], row["kind"], row["created"],
                              row["caveat"], row["releasable_to"], body)
        if verify and not signed_here and not verify_canonical(self._keys[envelope.sender], signed,
                                                               envelope.signature):
            envelope.verify(self._keys[envelope.sender])  # raises, naming the envelope
        return Prepared(envelope, *self._route(envelope), row, signed)

    def signature_item(self, prepared: Prepared) -> tuple[bytes, bytes, bytes]:
        """(raw public key, signed message, signature) of a prepared envelope, for
        `batch_verify`: exactly what `prepare` would have verified."""
        env = prepared.envelope
        return (raw_public_key(self._keys[env.sender]), SIGNATURE_CONTEXT + prepared.signed,
                env.signature)

    def _route(self, envelope: Envelope) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(recipients, withheld) of `envelope` under the policy, remembered per (kind,
        sender, release list): they depend on nothing else, and senders repeat them."""
        policy = self.policy
        routes = self._routes
        if routes.get(None) is not policy:      # first use, or the policy was replaced
            routes.clear()
            routes[None] = policy
        key = (envelope.kind, envelope.sender, envelope.releasable_to)
        route = routes.get(key)
        if route is None:
            route = (policy.recipients(envelope), policy.withheld(envelope))
            if len(routes) >= 4096:
                routes.clear()
                routes[None] = policy
            routes[key] = route
        return route

    def publish(self, envelope: Envelope) -> Receipt:
        """Store one envelope durably; returns after the commit."""
        return self.publish_many([envelope])[0]

    def publish_many(self, batch: Iterable[Envelope]) -> list[Receipt]:
        """Store a batch in one transaction: all of it, or (on any error) none of it."""
        return self.commit([self.prepare(e) for e in batch])

    def commit(self, prepared: Sequence[Prepared]) -> list[Receipt]:
        """Store prepared envelopes in one transaction; receipts in the same order.

        The common case (new ids, and this `Store` made the last commit) costs one read
        of the chain head and the inserts: ids are not looked up first, since the unique
        index refuses a stored one anyway, and each party's last position is known from
        our own last commit when the chain head is still the one that commit wrote (every
        commit that stores anything moves it). When either shortcut fails — an id is
        already stored, or another writer got in between — the transaction is rolled
        back and done again the careful way, which answers duplicates exactly as before.
        """
        if not prepared:
            return []
        first: dict[str, Prepared] = {}
        for p in prepared:
            seen = first.setdefault(p.row["id"], p)
            if seen.signed != p.signed:
                raise ChannelError(f"envelope {p.envelope.id}: sent twice in one batch with "
                                   "different content")
        try:
            done = self._commit(first, optimistic=True)
        except _Conflict:
            done = self._commit(first, optimistic=False)
        return [done[p.row["id"]] for p in prepared]

    def _commit(self, first: dict[str, Prepared], optimistic: bool) -> dict[str, Receipt]:
        tail = self._tail if optimistic else None
        with self._write() as conn:
            # Driver SQL: SQLAlchemy's statement building and caching cost more than these
            # two one-row statements, once per transaction. SQLite holds the write lock
            # since BEGIN IMMEDIATE; elsewhere the row lock serialises writers.
            sqlite = conn.dialect.name == "sqlite"
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            head = _sql(conn, "SELECT seq, hash FROM chain_head WHERE id = 1"
                        + ("" if sqlite else " FOR UPDATE")).fetchone()
            seq, prev = int(head[0]), head[1]
            if tail is not None and tail[0] == seq and tail[1] == prev:
                existing: dict[str, Any] = {}
                positions = dict(tail[2])
            else:
                optimistic = False
                existing = self._existing(conn, list(first))
                positions = self._last_positions(conn, set(self._keys))
            now_dt = datetime.now(timezone.utc)
            now = format_time(now_dt)
            stored_text = escape_string(now)
            env_rows: list[tuple[Any, ...]] = []
            rcpt_rows: list[tuple[Any, ...]] = []
            done: dict[str, Receipt] = {}
            for id_, p in first.items():
                if id_ in existing:
                    done[id_] = self._duplicate(p, existing[id_])
                    continue
                seq += 1
                placed: dict[str, int] = {}
                # Recipients come sorted from the policy and party ids need no escaping
                # (PARTY_ID), so this is `_recipients_json` without its checks.
                for party in p.recipients:
                    position = positions[party] = positions[party] + 1
                    placed[party] = position
                    rcpt_rows.append((seq, party, position))
                rjson = ("{" + ",".join([f'"{k}":{v}' for k, v in placed.items()]) + "}"
                         if _sorted_ids(p.recipients) else _recipients_json(placed, seq))
                record = _record_prefix(p) + (rjson + ',"seq":' + str(seq)
                                              + ',"stored":' + stored_text + "}").encode("utf-8")
                digest = hashlib.sha256(bytes.fromhex(prev) + record).hexdigest()
                r = p.row
                env_rows.append((seq, r["id"], r["sender"], r["kind"], r["created"], r["caveat"],
                                 r["releasable_to"], r["body"], r["signature"], now, prev, digest))
                prev = digest
                done[id_] = Receipt(p.envelope.id, placed[p.envelope.sender], p.recipients,
                                    p.withheld, now_dt, positions=tuple(placed.items()))
            if env_rows:
                _insert_many(conn, envelopes, _ENVELOPE_COLUMNS, env_rows)
                _insert_many(conn, recipients, _RECIPIENT_COLUMNS, rcpt_rows)
                _sql(conn, f"UPDATE chain_head SET seq = {mark}, hash = {mark} WHERE id = 1",
                     (seq, prev))
        # Committed: remember where the chain and every party's stream now end.
        self._tail = (seq, prev, positions)
        return done

    @staticmethod
    def _last_positions(conn: Connection, parties: set[str]) -> dict[str, int]:
        """Each party's last position, in one round trip: one scalar subquery per party,
        each answered from the (party, position) index by its max() shortcut."""
        if not parties:
            return {}
        order = sorted(parties)
        row = conn.execute(select(*(
            select(func.coalesce(func.max(recipients.c.position), 0))
            .where(recipients.c.party == party).scalar_subquery().label(f"p{i}")
            for i, party in enumerate(order)))).one()
        return {party: int(row[i]) for i, party in enumerate(order)}

    def _existing(self, conn: Connection, ids: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for i in range(0, len(ids), _IN_CHUNK):
            rows = conn.execute(
                select(envelopes, recipients.c.position)
                .join(recipients, and_(recipients.c.seq == envelopes.c.seq,
                                       recipients.c.party == envelopes.c.sender))
                .where(envelopes.c.id.in_(ids[i:i + _IN_CHUNK])))
            found.update({r.id: r for r in rows})
        if len(found) < len(ids):
            # An id stored but somehow without its sender's row (damage): still a conflict.
            rest = [i for i in ids if i not in found]
            for i in range(0, len(rest), _IN_CHUNK):
                for r in conn.execute(select(envelopes).where(envelopes.c.id.in_(rest[i:i + _IN_CHUNK]))):
                    raise ChannelError(f"envelope {r.id}: stored without its sender's row; "
                                       "run the audit")
        return found

    def _duplicate(self, p: Prepared, stored: Any) -> Receipt:
        if signed_bytes(stored.id, stored.sender, stored.kind, stored.created, stored.caveat,
                        stored.releasable_to, stored.body) != p.signed:
            raise ChannelError(f"envelope {p.envelope.id}: an envelope with this id is already "
                               "stored with different content; ids are never reused")
        return Receipt(p.envelope.id, stored.position, p.recipients, p.withheld,
                       parse_time(stored.stored), duplicate=True)

    # -- reading, always as a party ---------------------------------------

    def fetch(self, party: str, after: int | None = None, limit: int = DEFAULT_LIMIT) -> list[Delivery]:
        """Envelopes released to `party`, in order, after position `after` (its cursor if None)."""
        self._party(party)
        if after is None:
            after = self.cursor(party)
        return self.search(party, after=after, limit=limit)

    def search(self, party: str, *, kind: str | None = None, sender: str | None = None,
               since: datetime | None = None, until: datetime | None = None,
               after: int = 0, limit: int = DEFAULT_LIMIT) -> list[Delivery]:
        """Envelopes released to `party` that match every filter given, in `party`'s order.

        `since`/`until` bound the sender's ``created`` time (inclusive, exclusive).
        """
        self._party(party)
        limit = _limit(limit)
        query = (select(recipients.c.position, envelopes)
                 .join(envelopes, envelopes.c.seq == recipients.c.seq)
                 .where(recipients.c.party == party, recipients.c.position > _position(after))
                 .order_by(recipients.c.position).limit(limit))
        query = _filters(query, kind, sender, since, until)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [Delivery(r.position, envelope_from_row(r), parse_time(r.stored)) for r in rows]

    def get(self, party: str, envelope_id: uuid.UUID | str) -> Delivery:
        """One envelope by id, if it is released to `party`."""
        self._party(party)
        id_ = _envelope_id(envelope_id)
        with self._read() as conn:
            row = conn.execute(
                select(recipients.c.position, envelopes)
                .join(envelopes, envelopes.c.seq == recipients.c.seq)
                .where(envelopes.c.id == id_, recipients.c.party == party)).first()
        if row is None:
            raise _not_found(id_, party)
        return Delivery(row.position, envelope_from_row(row), parse_time(row.stored))

    def count(self, party: str, *, after: int = 0, kind: str | None = None,
              sender: str | None = None) -> int:
        """How many envelopes released to `party` (after position `after`, of `kind`, from `sender`)."""
        self._party(party)
        query = (select(func.count()).select_from(recipients)
                 .where(recipients.c.party == party, recipients.c.position > _position(after)))
        if kind is not None or sender is not None:
            query = query.join(envelopes, envelopes.c.seq == recipients.c.seq)
            query = _filters(query, kind, sender, None, None)
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- cursors -----------------------------------------------------------

    def cursor(self, party: str) -> int:
        """The last position `party` has confirmed (0 before its first)."""
        self._party(party)
        with self._read() as conn:
            value = conn.execute(select(cursors.c.last_position)
                                 .where(cursors.c.party == party)).scalar()
        return int(value or 0)

    @_retry_once
    def advance(self, party: str, position: int) -> None:
        """Record that `party` has handled everything up to `position` in its stream.

        Cursors only move forward, and not past the last envelope released to
        the party.
        """
        self._party(party)
        position = _position(position)
        with self._write() as conn:
            current = conn.execute(select(cursors.c.last_position)
                                   .where(cursors.c.party == party)).scalar()
            if current is not None and position < current:
                raise ChannelError(f'cursor of "{party}": cannot move back from {current} to {position}')
            last = conn.execute(select(func.coalesce(func.max(recipients.c.position), 0))
                                .where(recipients.c.party == party)).scalar_one()
            if position > last:
                raise ChannelError(f'cursor of "{party}": position {position} is past the last '
                                   f"envelope released to it ({last})")
            if current is None:
                conn.execute(insert(cursors).values(party=party, last_position=position))
            elif position != current:
                conn.execute(update(cursors).where(cursors.c.party == party)
                             .values(last_position=position))

    # -- acknowledgements --------------------------------------------------

    @_retry_once
    def acknowledge(self, party: str, envelope_id: uuid.UUID | str,
                    at: datetime | None = None) -> Acknowledgement:
        """`party` confirms it has read an envelope released to it. Idempotent: the
        first acknowledgement's time is kept and returned."""
        self._party(party)
        id_ = _envelope_id(envelope_id)
        when = format_time(at or datetime.now(timezone.utc))
        with self._write() as conn:
            released = conn.execute(
                select(recipients.c.seq).join(envelopes, envelopes.c.seq == recipients.c.seq)
                .where(envelopes.c.id == id_, recipients.c.party == party)).first()
            if released is None:
                raise _not_found(id_, party)
            first = conn.execute(select(acks.c.at).where(acks.c.envelope_id == id_,
                                                         acks.c.party == party)).scalar()
            if first is None:
                conn.execute(insert(acks).values(envelope_id=id_, party=party, at=when))
                first = when
        return Acknowledgement(uuid.UUID(id_), party, parse_time(first))

    def acknowledgements(self, party: str, envelope_id: uuid.UUID | str) -> list[Acknowledgement]:
        """Who has acknowledged an envelope released to `party`: all of them if `party`
        sent it, else only `party`'s own."""
        self._party(party)
        id_ = _envelope_id(envelope_id)
        with self._read() as conn:
            row = conn.execute(
                select(envelopes.c.sender).join(recipients, envelopes.c.seq == recipients.c.seq)
                .where(envelopes.c.id == id_, recipients.c.party == party)).first()
            if row is None:
                raise _not_found(id_, party)
            query = select(acks).where(acks.c.envelope_id == id_).order_by(acks.c.at, acks.c.party)
            if row.sender != party:
                query = query.where(acks.c.party == party)
            rows = conn.execute(query).all()
        return [Acknowledgement(uuid.UUID(r.envelope_id), r.party, parse_time(r.at)) for r in rows]

    # -- operator's view (audit) -------------------------------------------

    def head(self) -> ChainHead:
        """The chain head as the store records it (publish an anchor from it)."""
        with self._read() as conn:
            row = conn.execute(select(chain_head.c.seq, chain_head.c.hash)
                               .where(chain_head.c.id == 1)).one()
        return ChainHead(int(row.seq), row.hash)

    def raw_records(self, batch: int = 1000) -> Iterator[RawRecord]:
        """Every stored record in seq order, as the database holds it (operator only)."""
        last = None
        while True:
            with self._read() as conn:
                query = select(envelopes).order_by(envelopes.c.seq).limit(batch)
                if last is not None:
                    query = query.where(envelopes.c.seq > last)
                rows = [dict(r._mapping) for r in conn.execute(query)]
                if not rows:
                    return
                lo, hi = rows[0]["seq"], rows[-1]["seq"]
                rcpt: dict[int, dict[str, int]] = {}
                for r in conn.execute(select(recipients).where(recipients.c.seq.between(lo, hi))):
                    rcpt.setdefault(r.seq, {})[r.party] = r.position
            for row in rows:
                yield RawRecord(row["seq"], row, rcpt.get(row["seq"], {}))
            last = hi

    def _party(self, party: str) -> None:
        if party not in self._keys:
            raise ChannelError(f'unknown party "{party}" (known: {", ".join(self._keys)})')


class _Txn:
    """A connection with a transaction; database errors become `ChannelError`."""

    def __init__(self, store: Store, write: bool) -> None:
        self.store = store
        self.write = write

    def __enter__(self) -> Connection:
        try:
            conn = self.store.engine.connect()
            if self.write:
                conn = conn.execution_options(**WRITE)
            self.conn = conn
            self.txn = conn.begin()
        except SQLAlchemyError as exc:
            raise ChannelError(f"{self.store.url}: {_reason(exc)}") from None
        return conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                self.txn.commit()
            else:
                self.txn.rollback()
        except SQLAlchemyError as err:
            if exc_type is None:
                raise ChannelError(f"{self.store.url}: commit failed ({_reason(err)}); "
                                   "nothing was stored") from None
        finally:
            self.conn.close()
        if isinstance(exc, IntegrityError):
            raise _Conflict(f"{self.store.url}: refused by the database ({_reason(exc)}); "
                            "nothing was stored") from None
        if isinstance(exc, SQLAlchemyError):
            raise ChannelError(f"{self.store.url}: {_reason(exc)}") from None


_SQLITE_MAX_VARIABLES = 999   # SQLite's limit before 3.32 (32,766 since)


def _insert_many(conn: Connection, table: Any, keys: Sequence[str],
                 rows: list[tuple[Any, ...]]) -> None:
    """Insert rows (tuples in the order of `keys`). On SQLite, multi-row INSERTs straight on
    the driver: SQLAlchemy's per-row parameter processing costs more than the insert. On
    PostgreSQL with psycopg, COPY; elsewhere Core's "insertmanyvalues"."""
    if conn.dialect.name == "sqlite" and conn.dialect.paramstyle == "qmark":
        # Multi-row VALUES, as many rows a statement as SQLite's smallest variable limit
        # allows. Python's sqlite3 lets go of the GIL around every step and an executemany
        # steps once per row, so a commit of 50 envelopes (300 rows) gave the GIL away and
        # waited to win it back 300 times; with the checking threads and the event loop
        # busy each wait can be long, and under CPU pressure commits fell behind (25 % of a
        # core taken by another process: paced p99 105-505 ms before, 65-99 ms after).
        head = f'INSERT INTO {table.name} ({", ".join(keys)}) VALUES '
        one = "(" + ",".join("?" * len(keys)) + ")"
        per = max(1, _SQLITE_MAX_VARIABLES // len(keys))
        for i in range(0, len(rows), per):
            chunk = rows[i:i + per]
            _sql(conn, head + ",".join([one] * len(chunk)), [v for r in chunk for v in r])
    elif conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg" and len(rows) > 1:
        # COPY: one stream, no per-row statement on the server. Inside the transaction,
        # so it commits (or rolls back) with everything else.
        raw = conn.connection.driver_connection
        sql = f'COPY {table.name} ({", ".join(keys)}) FROM STDIN'
        try:
            with raw.cursor() as cur, cur.copy(sql) as copy:
                for r in rows:
                    copy.write_row(r)
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise DBAPIError.instance(sql, None, exc, psycopg.Error) from None
            raise
    else:
        conn.execute(insert(table), [dict(zip(keys, r)) for r in rows])


def _sql(conn: Connection, sql: str, params: Any = ()) -> Any:
    """Run driver SQL in `conn`'s transaction and return the cursor. On SQLite straight on
    the sqlite3 connection — SQLAlchemy's execution context costs more than the hot
    path's few statements — with its errors raised as SQLAlchemy's, as `_Txn` expects."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        try:
            return raw.execute(sql, params)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from None
    return conn.exec_driver_sql(sql, params)


_SORTED_SEEN: set[tuple[str, ...]] = set()


def _sorted_ids(parties: tuple[str, ...]) -> bool:
    """True when `parties` are in RFC 8785 key order and need no escaping (remembered)."""
    if parties in _SORTED_SEEN:
        return True
    ok = (list(parties) == sorted(parties)
          and all(PARTY_ID.fullmatch(p) for p in parties))
    if ok and len(_SORTED_SEEN) < 4096:
        _SORTED_SEEN.add(parties)
    return ok


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    if isinstance(exc, OperationalError) and "locked" in reason:
        reason += " (another writer held the database too long)"
    return reason


def _filters(query: Any, kind: str | None, sender: str | None, since: datetime | None,
             until: datetime | None) -> Any:
    if kind is not None:
        query = query.where(envelopes.c.kind == kind)
    if sender is not None:
        query = query.where(envelopes.c.sender == sender)
    if since is not None:
        query = query.where(envelopes.c.created >= format_time(since))
    if until is not None:
        query = query.where(envelopes.c.created < format_time(until))
    return query


def _limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ChannelError(f"limit: must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


MAX_POSITION = 2**63 - 1   # positions are 64-bit integers in every backend


def _position(position: int) -> int:
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= MAX_POSITION:
        raise ChannelError(f"position: must be a whole number from 0 to {MAX_POSITION}, got {position!r}")
    return position


def _envelope_id(value: uuid.UUID | str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ChannelError(f"envelope id {str(value)[:40]!r} is not a UUID") from None


def _not_found(id_: str, party: str) -> ChannelError:
    # The same words whether the envelope does not exist or exists but is not
    # released to `party`: the error must not reveal which.
    return ChannelError(f'envelope {id_}: no such envelope for "{party}"')
