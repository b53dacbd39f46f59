"""The channel end to end: envelopes signed, stored durably, delivered live to 5 parties.

The server (`borderwatch.channel.api.make_server`, plain HTTP with signed
tokens) runs in its own process over a SQLite file or a PostgreSQL database;
this process signs breach envelopes as the owner party, publishes them over
HTTP, and holds the five parties' live WebSocket subscriptions. Every
envelope is released to all five, so each one is delivered five times.

- "single": one envelope per POST /envelopes, 64 requests in flight (the
  server's group committer batches them into shared transactions);
- "batch": POST /envelopes/batch with 100 envelopes each, 4 in flight.

Throughput is envelopes from the first signature to the last delivery at
all five subscribers; latency is per (envelope, party), from just before
signing to the subscriber's receipt of the frame (both clocks are this
host's). Target (issue 8): ≥ 5,000 envelopes/s end to end on SQLite with
p99 < 50 ms. The peer column holds the target.

Server and load generator share the host's cores, so each row also gives the
CPU time each side spent per envelope (server: its process and its signature
helper, from /proc; load generator: this process, signing, posting and the five
subscribers) and the load average when the row started: a row measured while other jobs held the
cores reads low, and the CPU figures say what the channel itself costs.

PostgreSQL: a URL in ``BORDERWATCH_BENCH_PG`` (a database the bench may
fill), else a throwaway cluster as in the tests, else the rows are skipped.
Run: ``python bench/bench_channel.py`` (20,000 envelopes a row: the paced rows last 4 s, long
enough for the tail to show; or, say, ``… 50000 paced SQLite`` for one longer row);
`run()` returns the rows.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_RATE = 5_000.0
TARGET_P99_S = 0.050
PARTIES = ("iq-mod", "sy-gov", "sdf", "tr", "us")
_BODY_I_T0 = re.compile(r'"i":(\d+),"t0":([0-9.eE+-]+)')
_DELIVERY = '{"position":'   # how each delivery in a live frame begins
PACED_BATCH = 50
PACED_TICK_S = PACED_BATCH / TARGET_RATE   # 10 ms: the target rate, offered steadily

_SERVER = """
import sys
from borderwatch.channel import Store, load_deployment
from borderwatch.channel.api import make_server
dep = load_deployment(sys.argv[1])
store = Store(sys.argv[2], dep)
make_server(dep, store, port=int(sys.argv[3]), tls=False, auth=("token",)).run()
"""


def _start_server(dep_path: Path, store: str, port: int) -> subprocess.Popen:
    import httpx

    proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(dep_path), store, str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("channel server did not start")


async def _scenario(base: str, dep, n: int, mode: str) -> dict:
    import websockets

    from borderwatch.channel.api import make_token

    owner = dep.identity(dep.policy.owner)
    counts = {p: 0 for p in PARTIES}                  # deliveries received, per party
    arrivals: dict[str, list] = {p: [] for p in PARTIES}   # (receipt time, frame text)
    done = asyncio.Event()

    async def subscriber(party: str, ready: asyncio.Event) -> None:
        ident = dep.identity(party)
        path = "/live?after=0"
        async with websockets.connect(base.replace("http", "ws") + path, max_size=None, compression=None,
                                      additional_headers={"Authorization": make_token(ident, "GET", path)}) as ws:
            ready.set()
            frames = arrivals[party]
            async for msg in ws:
                # The receipt time and the frame; the frame is read after the run (`_latencies`:
                # the same numbers, without parsing in this process while it also signs and
                # posts on the same 2 cores). Deliveries are counted here to know when all
                # five have everything; `_latencies` checks there was no repeat among them.
                frames.append((time.time(), msg))
                counts[party] += msg.count(_DELIVERY)
                if counts[party] >= n:
                    if all(c >= n for c in counts.values()):
                        done.set()
                    return

    readies = [asyncio.Event() for _ in PARTIES]
    subs = [asyncio.create_task(subscriber(p, r)) for p, r in zip(PARTIES, readies)]
    await asyncio.gather(*(r.wait() for r in readies))

    # A minimal keep-alive HTTP/1.1 client: the load generator must not be what is
    # measured (httpx's pool costs ~4 ms of this process's CPU per request at 64 in flight).
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    pool: asyncio.Queue = asyncio.Queue()
    conns = []

    async def post(path: str, make_body) -> None:
        # Closed loop: signed once a connection is free, as a real sender would; paced
        # (open loop): signed on schedule, and any wait for a connection counts.
        body = make_body() if mode == "paced" else None
        conn = await pool.get()
        try:
            reader, writer = conn
            body = body if body is not None else make_body()
            head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Authorization: {make_token(owner, 'POST', path)}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
            writer.write(head + body)
            status = int((await reader.readline()).split(b" ", 2)[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            reply = await reader.readexactly(length)
            if status not in (200, 201):
                raise RuntimeError(f"POST {path}: {status} {reply[:200]!r}")
        finally:
            pool.put_nowait(conn)

    # The generator's own collector must not stall signing or the subscribers mid-run
    # (a full pass over this process's libraries takes tens of milliseconds, which
    # would be counted as delivery latency): collect once, then freeze what is there.
    gc.collect()
    gc.freeze()
    in_flight = {"single": 64, "batch": 4, "paced": 32}[mode]
    for _ in range(in_flight):
        conns.append(await asyncio.open_connection(host, int(port)))
        pool.put_nowait(conns[-1])
    try:
        t_start = time.perf_counter()

        def seal(i: int) -> bytes:
            # Signed and encoded in one pass (`seal(...).to_json()` would encode the body twice).
            return owner.seal_json("breach", {"i": i, "t0": time.time(), "chainage_km": 370.5},
                                   releasable_to=PARTIES)

        if mode == "single":
            await asyncio.gather(*(post("/envelopes", lambda i=i: seal(i)) for i in range(n)))
        elif mode == "paced":
            # Open loop at the target rate: PACED_BATCH envelopes every PACED_TICK_S,
            # posted on schedule whether or not earlier posts have been answered.
            def batch(k: int) -> bytes:
                return b"[" + b",".join(seal(i) for i in range(k, min(n, k + PACED_BATCH))) + b"]"

            posts = []
            for tick, k in enumerate(range(0, n, PACED_BATCH)):
                delay = t_start + tick * PACED_TICK_S - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                posts.append(asyncio.create_task(post("/envelopes/batch", lambda k=k: batch(k))))
            await asyncio.gather(*posts)
        else:
            size = 100

            def batch(k: int) -> bytes:
                return b"[" + b",".join(seal(i) for i in range(k, min(n, k + size))) + b"]"

            await asyncio.gather(*(post("/envelopes/batch", lambda k=k: batch(k))
                                 for k in range(0, n, size)))
        t_published = time.perf_counter()
        await asyncio.wait_for(done.wait(), 120)
        t_end = time.perf_counter()
    finally:
        for _, writer in conns:
            writer.close()
    for s in subs:
        s.cancel()
    await asyncio.gather(*subs, return_exceptions=True)
    gc.unfreeze()
    lat = np.array([v for party, frames in arrivals.items() for v in _latencies(party, frames, n)])
    return {"wall_s": t_end - t_start, "publish_s": t_published - t_start,
            "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
            "deliveries": int(lat.size)}


def _run(coro):
    """Run the load generator on uvloop where it is installed (uvicorn[standard] brings
    it): its transports cost this process less CPU per request and per frame than
    asyncio's own loop, and the generator shares the cores with the server."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _latencies(party: str, frames: list, n: int) -> list[float]:
    """Each envelope's latency at one subscriber: its frame's receipt time less the t0 in
    its body. Only the two numbers the bench needs are read from each frame (its body's
    keys are in canonical order: chainage_km, i, t0), not the whole JSON. Exactly once:
    `n` distinct envelopes, none repeated, or the run is refused."""
    out: dict[str, float] = {}
    seen = 0
    for now, msg in frames:
        for i, t0 in _BODY_I_T0.findall(msg):
            out[i] = now - float(t0)
            seen += 1
    if len(out) != n or seen != n:
        raise RuntimeError(f"{party}: {seen} deliveries of {len(out)} distinct envelopes, "
                           f"expected {n} exactly once")
    return list(out.values())


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process `pid` and every process below it (the channel
    server's signature helper, under its fork server) have used so far (Linux /proc; else 0)."""
    stats: dict[str, tuple[str, int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[stat.parent.name] = (fields[1], int(fields[11]) + int(fields[12]))
    mine, grew = {str(pid)}, True
    while grew:
        below = {p for p, (parent, _) in stats.items() if parent in mine} - mine
        grew = bool(below)
        mine |= below
    return sum(stats[p][1] for p in mine if p in stats) / os.sysconf("SC_CLK_TCK")


def _pg_url() -> tuple[str | None, callable]:
    given = os.environ.get("BORDERWATCH_BENCH_PG")
    if given:
        return given, lambda: None
    import pwd
    import socket

    def find(name):
        for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (base / name).exists():
                return str(base / name)
        return shutil.which(name)

    initdb, pg_ctl = find("initdb"), find("pg_ctl")
    if not initdb or not pg_ctl:
        return None, lambda: None
    folder = Path(tempfile.mkdtemp(prefix="bw-bench-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        u = pwd.getpwnam("postgres")
        os.chown(folder, u.pw_uid, u.pw_gid)
        run_as = ["su", "postgres", "-c"]

    def sh(args):
        subprocess.run(run_as + [" ".join(args)] if run_as else args, check=True,
                       capture_output=True, timeout=60)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = folder / "data"
    sh([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"])
    # fsync stays on: "stored durably" means the same on both backends.
    sh([pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
        f"'-p {port} -k {folder} -c listen_addresses=127.0.0.1'", "start"])

    def stop():
        sh([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)

    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", stop


def run(n: int = 20_000, modes: tuple[str, ...] = ("single", "batch", "paced"),
        backends: tuple[str, ...] = ("SQLite", "PostgreSQL")) -> list[dict]:
    from borderwatch.channel import create_deployment
    from borderwatch.channel.api import free_port
    from borderwatch.scenario import load_scenario

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bw-bench-channel-"))
    try:
        dep = create_deployment(load_scenario("iraq-syria"), tmp / "dep")
        pg, stop_pg = _pg_url() if "PostgreSQL" in backends else (None, lambda: None)
        try:
            stores = [("SQLite", lambda k: str(tmp / f"c{k}.db"))]
            if pg:
                stores.append(("PostgreSQL", lambda k: _fresh_pg(pg, k)))
            k = 0
            for name, store_for in stores:
                if name not in backends:
                    continue
                for mode in modes:
                    k += 1
                    port = free_port()
                    proc = _start_server(dep.path, store_for(k), port)
                    load = os.getloadavg()[0]
                    try:
                        server_cpu, own_cpu = _cpu_s(proc.pid), time.process_time()
                        r = _run(_scenario(f"http://127.0.0.1:{port}", dep, n, mode))
                        server_cpu = _cpu_s(proc.pid) - server_cpu
                        own_cpu = time.process_time() - own_cpu
                    finally:
                        proc.terminate()
                        proc.wait(10)
                    rate = n / r["wall_s"]
                    what = {"single": "1 envelope per POST, 64 in flight",
                            "batch": "POST /envelopes/batch of 100, 4 in flight",
                            "paced": f"batches of {PACED_BATCH} every "
                                     f"{PACED_TICK_S * 1000:g} ms, open loop at "
                                     f"{TARGET_RATE:,.0f}/s"}[mode]
                    rows.append({
                        "name": f"channel {name}: {n:,} envelopes × 5 live parties ({what})",
                        "ours_s": r["wall_s"] / n, "peer": "target 5,000/s, p99 < 50 ms",
                        "peer_s": 1 / TARGET_RATE,
                        "note": (f"{rate:,.0f} envelopes/s end to end ({r['deliveries']:,} "
                                 f"deliveries), publish-to-delivery p50 {r['p50'] * 1000:.1f} ms, "
                                 f"p99 {r['p99'] * 1000:.1f} ms; all published in "
                                 f"{r['publish_s']:.2f} s; CPU per envelope: server "
                                 f"{server_cpu / n * 1e6:.0f} µs, load generator "
                                 f"{own_cpu / n * 1e6:.0f} µs; load average {load:.1f}")})
        finally:
            stop_pg()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _fresh_pg(server: str, k: int) -> str:
    from sqlalchemy import create_engine

    name = f"bw_bench_{os.getpid()}_{k}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


if __name__ == "__main__":
    # python bench/bench_channel.py [N [MODE,… [BACKEND,…]]], e.g. 5000 paced SQLite
    args = sys.argv[1:]
    for row in run(int(args[0]) if args else 20_000,
                   tuple(args[1].split(",")) if len(args) > 1 else ("single", "batch", "paced"),
                   tuple(args[2].split(",")) if len(args) > 2 else ("SQLite", "PostgreSQL")):
        print(f"{row['name']}\n    {row['ours_s'] * 1e6:.0f} µs/envelope; {row['note']}")
