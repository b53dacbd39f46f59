"""The audit: prove that the stored record is what the parties said.

Every stored envelope is a record in a hash chain::

    hash[n] = SHA-256(hash[n-1] || canonical(record n))

where the record holds the signed envelope and its signature, its seq, the
time the store committed it and its recipients with their positions (see
`borderwatch.channel.store.record_bytes`); ``hash[0]`` is 64 zeros. `verify`
walks the chain from the start and checks, for each record, that its seq
follows the last, that it links to its predecessor's hash, that it holds a
well-formed envelope whose signature verifies with its sender's key, and
that its own hash matches its contents, and that nobody received it whom
its sender did not release it to. The first record that fails names
where the store was altered, where records were inserted, or where they
were removed.

What this proves, and what it does not: signatures make envelope content
unforgeable without a party's key. The chain makes every other change
(dropping a record, reordering, editing recipients or times) visible —
unless whoever edits the database also recomputes every later hash. To
catch even that, keep an anchor outside the database (`Store.head()` at the
end of a day, in each party's own records) and pass it as ``anchor``: a
rewritten chain cannot reproduce an anchored hash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from ..errors import ChannelError
from .deployment import Deployment
from .envelope import check_envelope, parse_time
from .schema import GENESIS, acks, cursors, envelopes, recipients
from .store import ChainHead, RawRecord, Store, chain_hash, envelope_from_row, record_bytes

MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong; `seq`/`envelope_id` are None for problems outside the chain."""

    seq: int | None
    envelope_id: str | None
    reason: str

    def __str__(self) -> str:
        if self.seq is None:
            return self.reason
        return f"record {self.seq} (envelope {self.envelope_id}): {self.reason}"


@dataclass(frozen=True, slots=True)
class AuditReport:
    """The result of `verify`: how many records were checked, and what failed (first first)."""

    records: int
    head: ChainHead
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def raise_if_bad(self) -> None:
        """Raise `ChannelError` naming the first bad record, if there is one."""
        if self.problems:
            more = len(self.problems) - 1
            tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
            raise ChannelError(f"audit failed: {self.problems[0]}{tail}")


def verify(store: Store, deployment: Deployment | None = None, *,
           anchor: ChainHead | None = None) -> AuditReport:
    """Recompute the chain and every signature of `store`; see the module docstring.

    `deployment` gives the parties' public keys (the store's own by default).
    `anchor`, a `ChainHead` saved earlier, must still be in the chain.
    """
    deployment = deployment or store.deployment
    keys = {p.id: p.public_key for p in deployment.parties}
    problems: list[Problem] = []
    prev_seq, prev_hash = 0, GENESIS
    count = 0
    anchored = anchor is None
    for rec in store.raw_records():
        count += 1
        reason = _check_record(rec, prev_seq, prev_hash, keys)
        if reason:
            problems.append(Problem(rec.seq, str(rec.row.get("id")), reason))
            if len(problems) >= MAX_PROBLEMS:
                break
        if anchor is not None and rec.seq == anchor.seq:
            anchored = True
            if rec.row["hash"] != anchor.hash:
                problems.append(Problem(rec.seq, rec.row["id"], "hash differs from the anchor "
                                        f"{anchor.hash[:16]}…: the chain was rewritten up to here"))
        prev_seq, prev_hash = rec.seq, rec.row["hash"]
    last = ChainHead(prev_seq, prev_hash)
    if len(problems) < MAX_PROBLEMS:
        problems.extend(_check_head(store, last))
        if not anchored:
            problems.append(Problem(None, None, f"the anchor's record {anchor.seq} is gone: the "
                                    f"chain ends at record {last.seq} (records were removed)"))
        problems.extend(_check_side_tables(store))
    return AuditReport(count, last, tuple(problems))


def _check_record(rec: RawRecord, prev_seq: int, prev_hash: str, keys: dict[str, Any]) -> str:
    row = rec.row
    if rec.seq != prev_seq + 1:
        if rec.seq > prev_seq + 1:
            gap = (f"record {prev_seq + 1} is missing" if rec.seq == prev_seq + 2 else
                   f"records {prev_seq + 1}–{rec.seq - 1} are missing")
            return f"{gap} after record {prev_seq} (removed)"
        return f"seq does not follow record {prev_seq} (inserted or renumbered)"
    if row["prev_hash"] != prev_hash:
        before = f"record {prev_seq}" if prev_seq else "the start of the chain"
        return (f"does not link to {before} (prev_hash {str(row['prev_hash'])[:16]}… ≠ "
                f"{prev_hash[:16]}…): inserted here, or the record before was altered or removed")
    try:
        env = envelope_from_row(_Row(row))
        check_envelope(env, keys)
    except ChannelError as exc:
        return f"does not hold a valid envelope ({exc})"
    if env.sender not in keys:
        return f'sender "{env.sender}" is not a party of this deployment'
    try:
        env.verify(keys[env.sender])
    except ChannelError:
        return f'signature of "{env.sender}" does not verify: the envelope was altered or forged'
    if set(rec.recipients) - set(keys) or env.sender not in rec.recipients:
        return "recipients are damaged (unknown party, or the sender is missing)"
    # Whatever the policy was at the time, nobody may receive what its sender did
    # not release to it; the release list is signed, so even a rewritten chain
    # cannot hide such a leak.
    leaked = sorted(set(rec.recipients) - set(env.releasable_to) - {env.sender})
    if leaked:
        return (f"delivered to {', '.join(leaked)}, to whom the sender did not release it "
                "(recipients altered)")
    try:
        expected = chain_hash(prev_hash, record_bytes(row, rec.recipients))
        parse_time(row["stored"])
    except (ChannelError, ValueError, json.JSONDecodeError) as exc:
        return f"record is damaged ({exc})"
    if row["hash"] != expected:
        return ("hash does not match the record's contents: its recipients, positions, "
                "stored time or seq were altered")
    return ""


def _check_head(store: Store, last: ChainHead) -> list[Problem]:
    head = store.head()
    if head == last:
        return []
    if head.seq > last.seq:
        gone = (f"record {head.seq} was" if head.seq == last.seq + 1 else
                f"records {last.seq + 1}–{head.seq} were")
        return [Problem(None, None, f"the chain ends at record {last.seq} but the store's head "
                        f"records {head.seq}: {gone} removed")]
    return [Problem(None, None, f"the store's head records {head.seq} ({head.hash[:16]}…) but the "
                    f"chain ends at record {last.seq} ({last.hash[:16]}…): records were added "
                    "or altered outside the store")]


def _check_side_tables(store: Store) -> list[Problem]:
    out: list[Problem] = []
    with store.reading() as conn:
        orphans = conn.execute(
            select(func.count()).select_from(recipients)
            .where(~recipients.c.seq.in_(select(envelopes.c.seq)))).scalar_one()
        if orphans:
            out.append(Problem(None, None, f"{orphans} recipient row(s) point at no record "
                                           "(records were removed)"))
        bad_acks = conn.execute(
            select(acks.c.envelope_id, acks.c.party)
            .where(~select(recipients.c.seq)
                   .join(envelopes, envelopes.c.seq == recipients.c.seq)
                   .where(envelopes.c.id == acks.c.envelope_id, recipients.c.party == acks.c.party)
                   .exists())
            .order_by(acks.c.envelope_id, acks.c.party).limit(10)).all()
        for r in bad_acks:
            out.append(Problem(None, None, f'acknowledgement of envelope {r.envelope_id} by "{r.party}" '
                                           "is for no envelope released to that party"))
        ahead = conn.execute(
            select(cursors.c.party, cursors.c.last_position)
            .where(cursors.c.last_position > select(func.coalesce(func.max(recipients.c.position), 0))
                   .where(recipients.c.party == cursors.c.party).scalar_subquery())).all()
        for r in ahead:
            out.append(Problem(None, None, f'cursor of "{r.party}" is at {r.last_position}, past its '
                                           "last envelope (records were removed)"))
    return out


class _Row:
    """Attribute access over a raw row dict, as `envelope_from_row` expects."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)
