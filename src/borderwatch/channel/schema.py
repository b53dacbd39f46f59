"""The store's tables and how a database is opened (SQLite by default, PostgreSQL by URL).

Portable SQL only (SQLAlchemy Core, no dialect-specific statements in the
store) so that one code path serves both. Times are stored as the fixed
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` text, which sorts like the instant it names
in every database and round-trips exactly.

Writers are serialised on the single ``chain_head`` row: the audit chain
needs each record to know its predecessor's hash, and positions must be
handed out in commit order so that a reader never skips a message that
commits later with a smaller number. PostgreSQL takes a row lock
(``SELECT … FOR UPDATE``); SQLite has one writer anyway and we make it take
the write lock at ``BEGIN IMMEDIATE`` rather than at the first write, so two
writers never deadlock upgrading read locks.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit returns only
after the WAL is on disk, which is what lets the channel promise that an
acknowledged publish is never lost. WAL lets readers run while a writer
commits; group commit (`borderwatch.channel.group_commit`) amortises the
fsync over many envelopes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (BigInteger, Column, Engine, ForeignKey, Index, Integer, MetaData, String,
                        Table, Text, UniqueConstraint, create_engine, event)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..errors import ChannelError

metadata = MetaData()

meta = Table(
    "channel_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

chain_head = Table(
    "chain_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# seq is a 64-bit integer everywhere; on SQLite it is declared INTEGER so that, as the
# primary key, it *is* the rowid (one B-tree fewer to write per envelope; SQLite's
# INTEGER holds 64 bits anyway).
_Seq = BigInteger().with_variant(Integer(), "sqlite")

envelopes = Table(
    "envelopes", metadata,
    # seq is handed out by the store under the chain-head lock (not by a
    # database sequence), so it has no gaps and follows commit order.
    Column("seq", _Seq, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("sender", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("created", String(27), nullable=False),
    Column("caveat", Text, nullable=False),
    Column("releasable_to", Text, nullable=False),   # canonical JSON array
    Column("body", Text, nullable=False),            # canonical JSON value (object or string)
    Column("signature", String(88), nullable=False),  # base64
    Column("stored", String(27), nullable=False),     # server time of commit (not signed)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

recipients = Table(
    "recipients", metadata,
    Column("seq", _Seq, ForeignKey("envelopes.seq"), primary_key=True),
    Column("party", String(64), primary_key=True),
    # The envelope's number in this party's own stream (1, 2, 3 …). Parties
    # see positions, never the global seq, whose gaps would count the
    # messages not released to them.
    Column("position", BigInteger, nullable=False),
    UniqueConstraint("party", "position", name="recipients_party_position"),
    # SQLite: the rows live in the primary key's B-tree; no separate rowid table.
    sqlite_with_rowid=False,
)

cursors = Table(
    "cursors", metadata,
    Column("party", String(64), primary_key=True),
    Column("last_position", BigInteger, nullable=False),
)

acks = Table(
    "acks", metadata,
    Column("envelope_id", String(36), ForeignKey("envelopes.id"), primary_key=True),
    Column("party", String(64), primary_key=True),
    Column("at", String(27), nullable=False),
)

Index("envelopes_kind_sender", envelopes.c.kind, envelopes.c.sender)

GENESIS = "0" * 64
"""The prev_hash of the first record."""

WRITE = {"borderwatch_write": True}
"""Execution options of a connection that will write (SQLite: BEGIN IMMEDIATE)."""


def make_engine(url: str | Path, **kwargs: Any) -> Engine:
    """An engine for a SQLite file (a path or ``sqlite:///…``) or a PostgreSQL URL."""
    text = str(url)
    if isinstance(url, Path) or "://" not in text:
        path = Path(url).expanduser().absolute()
        if not path.parent.is_dir():
            raise ChannelError(f"{path}: folder {path.parent} does not exist")
        text = f"sqlite:///{path}"
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ChannelError(f"{_redact(text)}: not a database URL") from None
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=f"postgresql+{_pg_driver()}")
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ChannelError("the channel store needs a SQLite file, not an in-memory database")
        engine = create_engine(parsed, connect_args={"timeout": 30.0}, **kwargs)
        _sqlite_hooks(engine)
        return engine
    if backend != "postgresql":
        raise ChannelError(f"{_redact(text)}: the channel store runs on SQLite or PostgreSQL, "
                           f"not {backend}")
    try:
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    except ModuleNotFoundError as exc:
        raise ChannelError(f"PostgreSQL driver {exc.name!r} is not installed "
                           "(pip install 'psycopg[binary]')") from None


def _pg_driver() -> str:
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        try:
            __import__(module)
            return driver
        except ImportError:
            continue
    raise ChannelError("a PostgreSQL URL was given but no driver is installed "
                       "(pip install 'psycopg[binary]')")


def _sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise ChannelError(f"SQLite refused WAL mode (got {mode}); is the file on a network share?")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        write = conn.get_execution_options().get("borderwatch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _redact(url: str) -> str:
    """A URL without its password, for error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database URL"
