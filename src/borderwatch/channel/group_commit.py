"""Group commit: many concurrent publishes, one transaction and one fsync.

A durable commit costs a disk flush (milliseconds on real disks); one per
envelope would cap the channel at a few hundred messages a second. Here
publishers hand envelopes to a single committer thread; while it waits on
one commit, the next publishers queue up, and it stores all of them in the
next transaction. Nobody is answered before the transaction holding its
envelope has committed, so a receipt still means "on disk".

Groups grow with the load: when the last group carried more than one
publish, the committer lingers briefly (a fraction of a millisecond after
each arrival, `linger_s` at most) for more before it commits, so a steady
stream makes large transactions; a lone publisher is committed at once.

Each envelope is checked (signature, parties) before it joins a batch —
in its publisher's own thread (`submit`), or in the committer's small pool
of checking threads (`submit_job`, which keeps that work off an event
loop) — so a bad envelope fails alone and at once. A unit of several
envelopes (`submit_prepared`, `submit_job`) is stored whole or not at all,
though it may share its transaction with other units. If a transaction is
refused as a whole (say, an id already stored with other content), its
units are retried one by one, so only the offender gets the error.

Listeners (`add_listener`) are told, in commit order, of every envelope a
transaction stored, right after it committed.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from ..errors import ChannelError
from .batch_verify import shared as shared_verifier
from .envelope import Envelope
from .store import Prepared, Receipt, Store

_STOP = object()

Listener = Callable[[list[tuple[Receipt, Prepared]]], None]


class _Unit:
    """One publish waiting for its transaction: one envelope or an all-or-nothing batch."""

    __slots__ = ("prepared", "future", "single")

    def __init__(self, prepared: Sequence[Prepared], future: Future, single: bool) -> None:
        self.prepared = prepared
        self.future = future
        self.single = single

    def resolve(self, receipts: list[Receipt]) -> None:
        self.future.set_result(receipts[0] if self.single else receipts)


class GroupCommitter:
    """Batches concurrent `publish` calls on one `Store` into shared transactions.

    Use as a context manager, or call `close()`: pending envelopes are
    committed before it returns. `max_batch` bounds the envelopes of one
    transaction (a unit larger than that still goes whole), `linger_s` how
    long a group may wait for more under load, `check_threads` the pool
    `submit_job` runs its checks in.
    """

    def __init__(self, store: Store, *, max_batch: int = 5000, linger_s: float = 0.002,
                 check_threads: int = 2) -> None:
        if max_batch < 1:
            raise ChannelError(f"max_batch: must be at least 1, got {max_batch}")
        self.store = store
        self.max_batch = max_batch
        self.linger_s = max(0.0, float(linger_s))
        self.gap_s = min(self.linger_s, 0.0005)
        self.batches = 0      # transactions committed (for tests and benchmarks)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._closing = False     # no new jobs; checks under way may still queue
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._check_threads = max(1, int(check_threads))
        # Checking jobs may verify a batch's signatures in the process's helper (see
        # batch_verify; shared, so it outlives this committer).
        self.verifier = shared_verifier()
        self._pool: ThreadPoolExecutor | None = None
        self._thread = threading.Thread(target=self._run, name="borderwatch-group-commit",
                                        daemon=True)
        self._thread.start()

    # -- submitting ----------------------------------------------------------

    def submit(self, envelope: Envelope, *, signed_here: bool = False) -> "Future[Receipt]":
        """Queue `envelope`; the future resolves to its receipt once committed
        (`signed_here`: see `Store.prepare`)."""
        future: Future[Receipt] = Future()
        try:
            prepared = self.store.prepare(envelope, signed_here=signed_here)
        except ChannelError as exc:
            future.set_exception(exc)
            return future
        self._put(_Unit((prepared,), future, True))
        return future

    def submit_prepared(self, prepared: Sequence[Prepared]) -> "Future[list[Receipt]]":
        """Queue checked envelopes (`Store.prepare`) to be stored together, all or none."""
        future: Future[list[Receipt]] = Future()
        if not prepared:
            future.set_result([])
            return future
        self._put(_Unit(tuple(prepared), future, False))
        return future

    def submit_job(self, job: Callable[[], Sequence[Prepared]]) -> "Future[list[Receipt]]":
        """Run `job` (which checks envelopes and returns them prepared) in the checking pool,
        then queue its envelopes as one unit. Whatever `job` raises fails the future."""
        future: Future[list[Receipt]] = Future()

        def work() -> None:
            try:
                prepared = tuple(job())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)
                return
            if not prepared:
                future.set_result([])
            else:
                self._put(_Unit(prepared, future, False))

        with self._lock:
            if self._closed or self._closing:
                future.set_exception(ChannelError("publish: the channel store is closed"))
                return future
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._check_threads,
                                                thread_name_prefix="borderwatch-check")
            self._pool.submit(work)
        return future

    def _put(self, unit: _Unit) -> None:
        with self._lock:
            if self._closed:
                unit.future.set_exception(ChannelError("publish: the channel store is closed"))
                return
            self._queue.put(unit)

    def publish(self, envelope: Envelope, timeout: float | None = None) -> Receipt:
        """Store `envelope` durably (batched with concurrent callers) and return its receipt."""
        return self.submit(envelope).result(timeout)

    async def publish_async(self, envelope: Envelope) -> Receipt:
        """`publish` for asyncio code: awaits the commit without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(envelope))

    # -- listeners -----------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(stored)` after each commit, from the committer thread, with the
        (receipt, prepared) of every envelope the transaction stored, in commit order."""
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        """Commit whatever is queued, then stop the committer thread."""
        with self._lock:
            if self._closed or self._closing:
                return
            self._closing = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)      # checks under way still join the queue
        with self._lock:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def __enter__(self) -> "GroupCommitter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the committer thread ------------------------------------------------

    def _run(self) -> None:
        loaded = False
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch: list[_Unit] = [item]
            size = len(item.prepared)
            stopping = False
            deadline = time.monotonic() + self.linger_s if loaded and self.linger_s else None
            while size < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    if deadline is None:
                        break
                    wait = min(deadline - time.monotonic(), self.gap_s)
                    if wait <= 0:
                        break
                    try:
                        item = self._queue.get(timeout=wait)
                    except queue.Empty:
                        break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
                size += len(item.prepared)
            loaded = len(batch) > 1
            self._commit(batch)
            if stopping:
                self._drain()
                return

    def _drain(self) -> None:
        rest: list[_Unit] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                rest.append(item)
        if rest:
            self._commit(rest)

    def _commit(self, batch: list[_Unit]) -> None:
        live = [u for u in batch if u.future.set_running_or_notify_cancel()]
        if not live:
            return
        if len(live) == 1:
            self._one(live[0])
            return
        prepared = [p for u in live for p in u.prepared]
        try:
            receipts = self.store.commit(prepared)
        except ChannelError:
            for u in live:
                self._one(u)
            return
        except Exception as exc:  # a database failure: nobody's envelope was stored
            for u in live:
                u.future.set_exception(exc)
            return
        self.batches += 1
        self._tell(prepared, receipts)
        k = 0
        for u in live:
            n = len(u.prepared)
            u.resolve(receipts[k:k + n])
            k += n

    def _one(self, unit: _Unit) -> None:
        try:
            receipts = self.store.commit(unit.prepared)
        except Exception as exc:
            unit.future.set_exception(exc)
            return
        self.batches += 1
        self._tell(unit.prepared, receipts)
        unit.resolve(receipts)

    def _tell(self, prepared: Sequence[Prepared], receipts: list[Receipt]) -> None:
        listeners = self._listeners
        if not listeners:
            return
        stored = [(r, p) for r, p in zip(receipts, prepared) if not r.duplicate]
        if not stored:
            return
        for listener in listeners:
            try:
                listener(stored)
            except Exception:  # noqa: BLE001 - a listener must not fail a commit
                pass
