"""Ed25519 verification of a whole batch of envelopes in a helper process.

Why: a checking thread that calls libsodium gives the GIL away for each
signature (about 57 µs) and must win it back afterwards. On a quiet machine
that costs nothing; with the two cores shared, `bench/trace_channel.py` saw
the wait reach 10 ms at p99, fifty times a batch of fifty, and that is where
the paced channel row's tail came from. Here a batch's signatures go to one
helper process in one round trip: the checking thread waits once, and the
signature work leaves the server's GIL altogether.

Same answers as `envelope.verify_signature` (both call `envelope.verify_raw`); the
caller re-checks any envelope this reports as bad in its own thread, so the
error a client sees is the one it always was. Small batches stay in the
calling thread (a round trip costs more than it saves), and if the helper
cannot be started or dies, verification falls back to the calling thread
and the next batch starts a fresh helper.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .envelope import verify_raw

log = logging.getLogger(__name__)

MIN_BATCH = 8          # fewer signatures than this are checked in the calling thread
Item = tuple[bytes, bytes, bytes]    # (raw 32-byte public key, message, 64-byte signature)


def bad_signatures(items: Sequence[Item]) -> list[int]:
    """Indices of `items` whose signature does not verify (what runs in the helper)."""
    return [i for i, (key, message, signature) in enumerate(items)
            if not verify_raw(key, signature, message)]


def _watch_parent(server: int) -> None:
    # Ctrl-C in a terminal sends SIGINT to the server's whole process group, this helper
    # included, which printed a KeyboardInterrupt traceback while the server was still
    # shutting down; the server stops its helper itself (`stop`), so the helper ignores it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    # A helper whose server died by a signal (no shutdown ran) must not linger: it looks
    # for the server's process every half second and ends when it is gone.
    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(server, 0)
            except ProcessLookupError:
                os._exit(0)
            except OSError:
                pass

    threading.Thread(target=watch, daemon=True).start()


def _context() -> multiprocessing.context.BaseContext:
    # Not fork: the server has threads, and a fork would copy their locks. A fork server
    # (started once per process, with this module loaded) makes each helper in a few
    # milliseconds where a spawned interpreter takes a few hundred; a server starts its
    # helper once, but a test suite starts and stops many.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


class BatchVerifier:
    """One helper process, started on first use; `close()` stops it. Servers share the
    process's one (`shared()`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._pid = 0             # the process that started the helper (a fork must not use it)
        self._closed = False

    def bad(self, items: Sequence[Item]) -> list[int]:
        """Indices of `items` whose signature does not verify."""
        if len(items) < MIN_BATCH:
            return bad_signatures(items)
        pool = self._ready()
        if pool is None:
            return bad_signatures(items)
        try:
            return pool.submit(bad_signatures, list(items)).result()
        except (BrokenProcessPool, OSError, RuntimeError) as exc:
            log.warning("signature helper failed (%s); verifying in the server, a fresh helper "
                        "starts with the next batch", exc)
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            return bad_signatures(items)

    def warm(self, timeout_s: float = 30.0) -> None:
        """Start the helper now and wait until it answers, so that the first batch does not
        wait for it (the first start, with its fork server, takes a few hundred
        milliseconds, and the batches behind the first would queue for as long). A server calls this before
        it takes requests; if the helper fails, batches are verified in the server."""
        pool = self._ready()
        if pool is not None:
            try:
                pool.submit(bad_signatures, []).result(timeout_s)
            except Exception as exc:  # noqa: BLE001 - any failure: verify in the server
                log.warning("signature helper not ready (%s); verifying in the server", exc)

    def _ready(self) -> ProcessPoolExecutor | None:
        with self._lock:
            if self._closed:
                return None
            if self._pool is not None and self._pid != os.getpid():
                self._pool = None         # inherited through fork: its threads did not come along
            if self._pool is None:
                self._pid = os.getpid()
                try:
                    self._pool = ProcessPoolExecutor(
                        1, mp_context=_context(),
                        initializer=_watch_parent, initargs=(os.getpid(),))
                except (OSError, RuntimeError) as exc:
                    log.warning("cannot start the signature helper (%s); verifying in the server", exc)
                    return None
            return self._pool

    def stop(self) -> None:
        """Stop the helper now (a later batch starts a fresh one). A server stops it as it
        shuts down: a process that ends by a signal runs no exit handlers, and the helper's
        queues would be reported as leaked."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def close(self) -> None:
        """Stop the helper for good: batches are verified in the calling thread from now on."""
        with self._lock:
            self._closed = True
        self.stop()


_SHARED: BatchVerifier | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> BatchVerifier:
    """The process's one helper, which every committer in it uses: started on first use
    (or `warm()`), stopped when the process exits (or, killed, when the helper sees its
    parent gone)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = BatchVerifier()
        return _SHARED
