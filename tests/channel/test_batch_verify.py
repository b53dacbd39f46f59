"""Signatures checked in a helper process give the answers libsodium gives in the server."""

from __future__ import annotations

import os
import signal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from borderwatch.channel.batch_verify import MIN_BATCH, BatchVerifier, bad_signatures
from borderwatch.channel.envelope import raw_public_key, sign_message, verify_signature


def _items(ids, n: int, altered: set[int]):
    key = ids["iq-mod"].private_key
    pub = key.public_key()
    out = []
    for i in range(n):
        message = f"message {i}".encode()
        signature = sign_message(key, message)
        if i in altered:
            message += b"!"
        out.append((raw_public_key(pub), message, signature))
    return out, pub


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_signatures_agrees_with_verify_signature(ids, data):
    n = data.draw(st.integers(1, 20))
    altered = set(data.draw(st.lists(st.integers(0, n - 1), max_size=n)))
    items, pub = _items(ids, n, altered)
    cut = data.draw(st.integers(0, n - 1))
    items[cut] = (items[cut][0], items[cut][1], items[cut][2][:data.draw(st.integers(0, 64))])
    expected = [i for i, (_, m, s) in enumerate(items) if not verify_signature(pub, s, m)]
    assert bad_signatures(items) == expected


def test_the_helper_answers_and_a_dead_helper_is_replaced(ids):
    items, _ = _items(ids, 3 * MIN_BATCH, {2, 19})
    v = BatchVerifier()
    try:
        assert v.bad(items) == [2, 19]
        pool = v._pool
        assert pool is not None                       # it ran in the helper
        for pid in list(pool._processes):
            os.kill(pid, signal.SIGKILL)
        assert v.bad(items) == [2, 19]                # answered in the server meanwhile
        assert v.bad(items) == [2, 19]                # and by a fresh helper after
        assert v._pool is not None and v._pool is not pool
        assert v.bad(items[:MIN_BATCH - 1]) == [2]    # small batches never leave the thread
    finally:
        v.close()
    assert v.bad(items) == [2, 19]                    # closed: in the calling thread
    assert v._pool is None
