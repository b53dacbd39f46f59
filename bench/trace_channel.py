"""Where the channel's publish-to-delivery time goes: one paced row of `bench_channel` with
the server's stages timed.

The server process is the bench's, with its stages wrapped (no change to the code under
test): a batch's wait for a checking thread, its check (parse, fields, signatures), each group
commit (insert, chain, fsync), each hand-over to the live hub, each round trip to the
signature helper (`batch_verify`), and every Ed25519 verification made in the server
itself (small batches): CPU and wall time, the difference being the wait to win the GIL
back. It prints percentiles per stage, so a slow tail can be pinned to a stage before
anyone guesses at a cause.

Run: ``python bench/trace_channel.py [N]`` (default 20,000 envelopes, 4 s at 5,000/s).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_channel  # noqa: E402

_TRACED_SERVER = """
import json, sys, threading, time
from borderwatch.channel import Store, load_deployment
from borderwatch.channel import batch_verify, group_commit, live, store as store_mod, envelope
from borderwatch.channel.api import make_server

OUT = __import__("os").environ["BORDERWATCH_TRACE_OUT"]
T = {"job": [], "commit": [], "deliver": [], "verify": [], "helper": []}
GC = group_commit.GroupCommitter

def submit_job(self, job, _orig=GC.submit_job):
    queued = time.time()
    def timed():
        start = time.time(); prepared = job(); end = time.time()
        T["job"].append((prepared[0].envelope.body.get("t0", 0.0) if prepared else 0.0,
                         queued, start, end, len(prepared)))
        return prepared
    return _orig(self, timed)

def commit(self, batch, _orig=GC._commit):
    start = time.time(); _orig(self, batch); end = time.time()
    t0 = min(u.prepared[0].envelope.body.get("t0", 0.0) for u in batch)
    T["commit"].append((t0, start, end, sum(len(u.prepared) for u in batch)))

def deliver(self, items, _orig=live.LiveHub.deliver):
    start = time.time(); _orig(self, items); T["deliver"].append((start, time.time(), len(items)))

def verify(pk, canonical, sig, _orig=envelope.verify_canonical):
    c, w = time.thread_time(), time.perf_counter()
    ok = _orig(pk, canonical, sig)
    T["verify"].append((time.thread_time() - c, time.perf_counter() - w))
    return ok

def helper(self, items, _orig=batch_verify.BatchVerifier.bad):
    w = time.perf_counter(); bad = _orig(self, items)
    T["helper"].append((len(items), time.perf_counter() - w))
    return bad

GC.submit_job, GC._commit, live.LiveHub.deliver = submit_job, commit, deliver
store_mod.verify_canonical = verify
batch_verify.BatchVerifier.bad = helper

def dump():
    # uvicorn re-raises SIGTERM after its shutdown, so nothing at exit would run: write
    # what has been seen every half second instead.
    while True:
        time.sleep(0.5)
        tmp = OUT + ".tmp"
        with open(tmp, "w") as f:
            json.dump(T, f)
        __import__("os").replace(tmp, OUT)

threading.Thread(target=dump, daemon=True).start()
dep = load_deployment(sys.argv[1])
make_server(dep, Store(sys.argv[2], dep), port=int(sys.argv[3]), tls=False, auth=("token",)).run()
"""


def _pct(values, scale: float = 1000.0) -> str:
    v = np.asarray(values, float) * scale
    if v.size == 0:
        return "-"
    p50, p99 = np.percentile(v, [50, 99])
    return f"{p50:6.2f} {p99:7.2f} {v.max():7.2f}"


def main(n: int) -> None:
    out = Path(tempfile.mkdtemp(prefix="bw-trace-")) / "stages.json"
    bench_channel._SERVER = _TRACED_SERVER
    os.environ["BORDERWATCH_TRACE_OUT"] = str(out)      # the server process inherits it
    rows = bench_channel.run(n, ("paced",), ("SQLite",))
    time.sleep(0.7)
    print(rows[0]["note"])
    t = json.loads(out.read_text())
    job = np.array(t["job"], float).reshape(-1, 5)
    com = np.array(t["commit"], float).reshape(-1, 4)
    dl = np.array(t["deliver"], float).reshape(-1, 3)
    ver = np.array(t["verify"], float).reshape(-1, 2)
    print(f"{'stage (ms)':44s}    p50     p99     max")
    print(f"{'signed -> received (first of each batch)':44s} {_pct(job[:, 1] - job[:, 0])}")
    print(f"{'received -> a checking thread takes it':44s} {_pct(job[:, 2] - job[:, 1])}")
    print(f"{'check of one batch':44s} {_pct(job[:, 3] - job[:, 2])}")
    print(f"{'signed -> its group commit starts':44s} {_pct(com[:, 1] - com[:, 0])}")
    print(f"{'group commit (insert, chain, fsync)':44s} {_pct(com[:, 2] - com[:, 1])}")
    print(f"{'hand-over to the live hub':44s} {_pct(dl[:, 1] - dl[:, 0])}")
    hlp = np.array(t["helper"], float).reshape(-1, 2)
    print(f"{'signatures of one batch, helper round trip':44s} {_pct(hlp[:, 1])}")
    print(f"{'Ed25519 verify in the server, CPU (µs)':44s} {_pct(ver[:, 0], 1e6)}")
    print(f"{'Ed25519 verify in the server, wall (µs)':44s} {_pct(ver[:, 1], 1e6)}")
    print(f"{len(com)} commits of {np.percentile(com[:, 3], 50):.0f} envelopes (p50), "
          f"largest {com[:, 3].max():.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
