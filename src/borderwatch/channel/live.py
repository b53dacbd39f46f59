"""Live fan-out: each newly stored envelope pushed to the subscribers it is released to.

`LiveHub` lives in the server's event loop. Each WebSocket subscriber gets a
`Subscription`: a bounded queue of pre-encoded deliveries for its party and
a position (the last one it has been sent). After a commit the API hands
the hub every recipient's position (`LiveHub.deliver`); the hub appends to
the queues of that party's subscribers without ever waiting, so a slow
subscriber never stalls the publisher or the others.

Exactly once, in order, whatever happens: a subscription sends only the
position right after its last one. When its queue overflowed (a slow
reader), when deliveries arrive out of order, when it starts (resuming from
the cursor the client gave), and every `poll_s` (envelopes stored by another
process), it reads what it is missing from the store itself — through the
party's own recipient rows, so it can never see what is not released to it.
Positions are dense per party and handed out in commit order, so "right
after the last one" never skips and never repeats.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from .canonical import escape_string
from .envelope import FORMAT_VERSION, Envelope, format_time
from .store import Delivery, Prepared, Receipt, Store

DEFAULT_QUEUE = 10_000
DEFAULT_BATCH = 500


def envelope_text(envelope: Envelope) -> str:
    """The wire form of an envelope as compact JSON text (what a delivery frame embeds)."""
    return json.dumps(envelope.to_dict(), ensure_ascii=False, separators=(",", ":"))


def row_text(row: Any) -> str:
    """`envelope_text` assembled from a stored (or prepared) row's columns, whose ``body``
    and ``releasable_to`` are already canonical JSON: no decoding and re-encoding."""
    e = escape_string
    return (f'{{"v":{FORMAT_VERSION},"id":' + e(row["id"]) + ',"sender":' + e(row["sender"])
            + ',"kind":' + e(row["kind"]) + ',"created":' + e(row["created"])
            + ',"caveat":' + e(row["caveat"]) + ',"releasable_to":' + row["releasable_to"]
            + ',"body":' + row["body"] + ',"signature":' + e(row["signature"]) + "}")


def delivery_text(position: int, stored: str, envelope_json: str) -> str:
    """One delivery as JSON text: ``{"position":…,"stored":…,"envelope":{…}}``."""
    return f'{{"position":{position},"stored":"{stored}","envelope":{envelope_json}}}'


def frame_text(deliveries: Iterable[str]) -> str:
    """One WebSocket frame holding one or more deliveries, in order."""
    return '{"type":"deliveries","deliveries":[' + ",".join(deliveries) + "]}"


@dataclass(eq=False)
class Subscription:
    """One live subscriber: its party, its last sent position and its bounded queue."""

    hub: "LiveHub"
    party: str
    last: int
    queue: deque = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    behind: bool = True          # must read from the store before using the queue
    dropped: int = 0             # deliveries dropped from the queue (read back from the store)

    def offer(self, position: int, text: str) -> None:
        """Queue a delivery without waiting; on overflow drop the queue and read back later."""
        if position <= self.last or (self.queue and position == self.queue[-1][0]):
            return            # sent already, or offered twice in a row
        if len(self.queue) >= self.hub.queue_size:
            self.dropped += len(self.queue) + 1
            self.queue.clear()
            self.behind = True
        else:
            self.queue.append((position, text))
        self.wake.set()

    def offer_run(self, first: int, texts: list[str]) -> None:
        """Queue deliveries at positions first, first + 1, … in one step (`offer` for a run):
        those at or below what was already sent or queued are skipped."""
        done = self.queue[-1][0] if self.queue else self.last
        if done < self.last:
            done = self.last
        if first <= done:
            texts = texts[done - first + 1:]
            first = done + 1
        if not texts:
            return
        if len(self.queue) + len(texts) > self.hub.queue_size:
            self.dropped += len(self.queue) + len(texts)
            self.queue.clear()
            self.behind = True
        else:
            self.queue.extend(zip(range(first, first + len(texts)), texts))
        self.wake.set()

    async def next_batch(self) -> list[str]:
        """The next deliveries to send (one or more, in order, each exactly once)."""
        while True:
            if self.behind:
                rows = await run_in_threadpool(self.hub.store.search, self.party, after=self.last,
                                               limit=self.hub.batch)
                if rows:
                    self.last = rows[-1].position
                    return [_encode(d) for d in rows]
                self.behind = False
            out: list[str] = []
            while self.queue and len(out) < self.hub.batch:
                position, text = self.queue.popleft()
                if position <= self.last:
                    continue
                if position != self.last + 1:      # a gap: read the missing ones from the store
                    self.queue.appendleft((position, text))
                    self.behind = True
                    break
                out.append(text)
                self.last = position
            if out:
                return out
            if self.behind:
                continue
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), self.hub.poll_s)
            except asyncio.TimeoutError:
                self.behind = True     # look in the store: another process may have written

    def close(self) -> None:
        self.hub.unsubscribe(self)


def _encode(d: Delivery) -> str:
    return delivery_text(d.position, format_time(d.stored), envelope_text(d.envelope))


class LiveHub:
    """Fan-out of newly stored envelopes to live subscribers, per party.

    `queue_size` bounds each subscriber's queue, `batch` the deliveries per
    frame and per store read, `poll_s` how often an idle subscriber looks in
    the store for envelopes this process did not publish.
    """

    def __init__(self, store: Store, *, queue_size: int = DEFAULT_QUEUE,
                 batch: int = DEFAULT_BATCH, poll_s: float = 1.0) -> None:
        self.store = store
        self.queue_size = queue_size
        self.batch = batch
        self.poll_s = poll_s
        self._subs: dict[str, set[Subscription]] = {}

    def subscribe(self, party: str, after: int) -> Subscription:
        """A new subscription for `party` that starts right after position `after`."""
        sub = Subscription(self, party, after)
        self._subs.setdefault(party, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.party)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.party]

    def subscribers(self, party: str | None = None) -> int:
        if party is not None:
            return len(self._subs.get(party, ()))
        return sum(len(s) for s in self._subs.values())

    def deliver(self, receipts: Iterable[tuple[Receipt, Envelope | Prepared]]) -> None:
        """Push newly committed envelopes to their recipients' subscribers (never waits).

        Call from the event loop, in commit order where possible (the
        subscriptions put right whatever arrives out of order). Each
        envelope is encoded once, whatever the number of its subscribers.
        """
        if not self._subs:
            return
        # Per party, runs of consecutive positions, each queued in one step; each
        # envelope's JSON and each commit's time are encoded once.
        runs: dict[str, tuple[int, list[str]]] = {}
        stored_at: Any = None
        stored = ""
        for receipt, envelope in receipts:
            if receipt.duplicate:
                continue
            wanted = [(p, pos) for p, pos in receipt.positions if p in self._subs]
            if not wanted:
                continue
            env_json = (row_text(envelope.row) if isinstance(envelope, Prepared)
                        else envelope_text(envelope))
            if receipt.stored is not stored_at:
                stored_at, stored = receipt.stored, format_time(receipt.stored)
            for party, position in wanted:
                text = delivery_text(position, stored, env_json)
                run = runs.get(party)
                if run is not None and run[0] + len(run[1]) == position:
                    run[1].append(text)
                else:
                    if run is not None:
                        self._queue_run(party, run)
                    runs[party] = (position, [text])
        for party, run in runs.items():
            self._queue_run(party, run)

    def _queue_run(self, party: str, run: tuple[int, list[str]]) -> None:
        for sub in self._subs.get(party, ()):
            sub.offer_run(run[0], run[1])

    def poke(self) -> None:
        """Make every subscriber look in the store now (after an outside write)."""
        for subs in self._subs.values():
            for sub in subs:
                sub.behind = True
                sub.wake.set()


def parse_frame(text: str | bytes) -> list[dict[str, Any]]:
    """The deliveries of one frame, as decoded JSON objects."""
    obj = json.loads(text)
    if not isinstance(obj, dict) or obj.get("type") != "deliveries":
        return []
    return list(obj.get("deliveries") or ())
