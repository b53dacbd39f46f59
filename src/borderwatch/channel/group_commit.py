"""Group commit: many concurrent publishes, one transaction and one fsync.

A durable commit costs a disk flush (milliseconds on real disks); one per
envelope would cap the channel at a few hundred messages a second. Here
publishers hand envelopes to a single committer thread; while it waits on
one commit, the next publishers queue up, and it stores all of them in the
next transaction. Nobody is answered before the transaction holding its
envelope has committed, so a receipt still means "on disk".

Each envelope is checked (signature, parties) in its publisher's own thread
before it joins a batch, so a bad envelope fails alone and at once. If a
batch is refused as a whole (say, an id already stored with other content),
its envelopes are retried one by one, so only the offender gets the error.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from concurrent.futures import Future

from ..errors import ChannelError
from .envelope import Envelope
from .store import Prepared, Receipt, Store

_STOP = object()


class GroupCommitter:
    """Batches concurrent `publish` calls on one `Store` into shared transactions.

    Use as a context manager, or call `close()`: pending envelopes are
    committed before it returns.
    """

    def __init__(self, store: Store, *, max_batch: int = 1000) -> None:
        if max_batch < 1:
            raise ChannelError(f"max_batch: must be at least 1, got {max_batch}")
        self.store = store
        self.max_batch = max_batch
        self.batches = 0      # transactions committed (for tests and benchmarks)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="borderwatch-group-commit",
                                        daemon=True)
        self._thread.start()

    def submit(self, envelope: Envelope) -> "Future[Receipt]":
        """Queue `envelope`; the future resolves to its receipt once committed."""
        future: Future[Receipt] = Future()
        try:
            prepared = self.store.prepare(envelope)
        except ChannelError as exc:
            future.set_exception(exc)
            return future
        with self._lock:
            if self._closed:
                future.set_exception(ChannelError("publish: the channel store is closed"))
                return future
            self._queue.put((prepared, future))
        return future

    def publish(self, envelope: Envelope, timeout: float | None = None) -> Receipt:
        """Store `envelope` durably (batched with concurrent callers) and return its receipt."""
        return self.submit(envelope).result(timeout)

    async def publish_async(self, envelope: Envelope) -> Receipt:
        """`publish` for asyncio code: awaits the commit without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(envelope))

    def close(self) -> None:
        """Commit whatever is queued, then stop the committer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def __enter__(self) -> "GroupCommitter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                return
            batch: list[tuple[Prepared, Future[Receipt]]] = [item]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Prepared, "Future[Receipt]"]]) -> None:
        live = [(p, f) for p, f in batch if f.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            receipts = self.store.commit([p for p, _ in live])
        except ChannelError as exc:
            if len(live) == 1:
                live[0][1].set_exception(exc)
            else:
                for p, f in live:
                    self._one(p, f)
            return
        except Exception as exc:  # a database failure: nobody's envelope was stored
            for _, f in live:
                f.set_exception(exc)
            return
        self.batches += 1
        for (_, f), receipt in zip(live, receipts):
            f.set_result(receipt)

    def _one(self, prepared: Prepared, future: "Future[Receipt]") -> None:
        try:
            receipt = self.store.commit([prepared])[0]
        except Exception as exc:
            future.set_exception(exc)
            return
        self.batches += 1
        future.set_result(receipt)
