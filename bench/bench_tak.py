"""TAK fan-out: one field unit's sightings to N connected clients, ours vs taky, on loopback.

For N = 10, 100, 500 receiving clients, one sender (a field unit) writes M
hostile-ground sightings (``a-h-G-U-C-I``) as fast as it can, in sweeps of
100 that share a report time, one second apart: the same 100 people (one
uid each, as a TAK marker is updated) walking east at ~9 m/s, as a tower
or aircraft reports them; a sequence number in ``<remarks>``. Every
receiver counts the events it gets and when. Rows give events/s accepted in
(sent ÷ time to write them), events/s delivered (all deliveries ÷ time from
the first send to the last delivery) and the p99 send-to-receive latency.
Both servers get the same load: every one of the N receivers is entitled to
every sighting, so each event is delivered N times by both.

- **ours**: `TakServer` in its own process, the Iraq–Syria deployment,
  every client over mutual TLS with its party's certificate; releasability
  on: the N receivers belong to the parties the ``detection`` rule releases
  sightings to (iq-mod, us), and one more client for each of the other
  three parties must receive none of them (the row fails if one leaks).
  Each sighting is also signed, stored (SQLite, group commit) and tracked;
  the tracks the tracker makes go out too (not counted).
- **taky** (PyPI ``taky``, a Python TAK server), in its own process and
  venv (``TAKY`` env var: its executable; `make bench` installs taky 0.10 in
  ``.bench-peers/taky``; default ``/tmp/takyenv/bin/taky``),
  plain TCP (its TLS needs its own PKI), no releasability: it sends every
  event to every other client.

Both servers and the load generator share the machine's cores, so the
figures are what one box does end to end, not a server in isolation; each
row also gives the CPU seconds the server and the load generator spent
(``/proc``), from the first send to the last delivery. ``BENCH_TAK_SPY=PREFIX``
records our server with py-spy (collapsed stacks, GIL holders only) into
``PREFIX-N.txt``.

Why the sizes differ: with 10 receivers a row measures ingest (each of our
sightings is parsed, validated, signed, stored and tracked, and the tracker
runs one scan per sweep; taky parses and forwards); with 100 and 500 it
measures fan-out.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from bench_channel import _cpu_s   # CPU seconds of a process, from /proc

NS = (10, 100, 500)
TOTAL_DELIVERIES = 1_000_000       # M = TOTAL_DELIVERIES // N sightings per row
SWEEP = 100                        # sightings per report time
TAKY = os.environ.get("TAKY", "/tmp/takyenv/bin/taky")
_SEQ = re.compile(rb"<remarks>seq (\d+)</remarks>")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


_OURS = textwrap.dedent("""
    import asyncio, os, sys
    from borderwatch.channel import Store, load_deployment
    from borderwatch.channel.tak_server import TakServer
    dep = load_deployment(sys.argv[1])
    async def main():
        with Store(sys.argv[2], dep) as store:
            srv = TakServer(dep, store, host="127.0.0.1", tls_port=int(sys.argv[3]), tcp_port=None,
                            max_positions=100_000, store_sightings=os.environ.get("BENCH_TAK_STORE", "1") == "1")
            await srv.start()
            await srv.serve_forever()
    asyncio.run(main())
""")


def _sightings(m: int) -> list[bytes]:
    from borderwatch.channel.cot import to_cot_xml
    from borderwatch.channel.tak_server import sighting_event

    now = datetime.now(timezone.utc)
    return [to_cot_xml(sighting_event(f"bench-p{i % SWEEP}", 34.4 + (i % SWEEP) * 1e-4, 41.0 + (i // SWEEP) * 1e-4,
                                      callsign="BENCH-1", when=now + timedelta(seconds=i // SWEEP),
                                      remarks=f"seq {i}"))
            for i in range(m)]


async def _load(port: int, n: int, m: int, contexts: list, sender_ctx, observers: list | None = None,
                timeout: float = 120.0, server_pid: int = 0) -> dict:
    """N receivers (contexts[k % len]) and the observers (contexts that may see none of it)."""
    events = _sightings(m)
    observers = observers or []
    total = n + len(observers)
    # Per receiver, one (time, [seq, ...]) per read: the harness costs the same per chunk for both servers.
    recv_t: list[list[tuple[float, list[bytes]]]] = [[] for _ in range(total)]
    counts = [0] * total
    last_t = [0.0] * total

    async def receiver(k: int, reader) -> None:
        buf = b""
        while True:
            chunk = await reader.read(1 << 18)
            if not chunk:
                return
            now = time.perf_counter()
            buf += chunk
            cut = buf.rfind(b"</event>")
            if cut < 0:
                continue
            part, buf = buf[:cut + 8], buf[cut + 8:]
            seqs = _SEQ.findall(part)
            if seqs:
                recv_t[k].append((now, seqs))
                counts[k] += len(seqs)
                last_t[k] = now

    conns = []
    for k in range(total):
        ctx = contexts[k % len(contexts)] if k < n else observers[k - n]
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, limit=1 << 18)
        conns.append((r, w))
    _, sw = await asyncio.open_connection("127.0.0.1", port, ssl=sender_ctx)
    tasks = [asyncio.create_task(receiver(k, r)) for k, (r, _) in enumerate(conns)]
    await asyncio.sleep(1.0 + n / 200)                    # every connection registered
    sent_t = np.empty(m)
    cpu0 = (_cpu_s(server_pid), time.process_time())
    t0 = time.perf_counter()
    for i, ev in enumerate(events):
        sent_t[i] = time.perf_counter()
        sw.write(ev)
        if i % 50 == 49:
            await sw.drain()
    await sw.drain()
    t_in = time.perf_counter() - t0
    want = n * m
    end = time.perf_counter() + timeout
    while sum(counts[:n]) < want and time.perf_counter() < end:
        await asyncio.sleep(0.02)
        last = max(last_t[:n])
        if sum(counts[:n]) and time.perf_counter() - max(last, t0 + t_in) > 5.0:
            break                                         # nothing more for 5 s
    cpu = (_cpu_s(server_pid) - cpu0[0], time.process_time() - cpu0[1])
    await asyncio.sleep(0.2 if observers else 0.0)        # anything leaking to an observer has come too
    got = sum(counts[:n])
    leaked = sum(counts[n:])
    last = max(last_t[:n]) or t0
    seq = np.concatenate([np.array(s, dtype=np.int64) for x in recv_t[:n] for _, s in x] or [np.zeros(0, np.int64)])
    at = np.concatenate([np.full(len(s), t) for x in recv_t[:n] for t, s in x] or [np.zeros(0)])
    ok = seq < m
    lat = at[ok] - sent_t[seq[ok]]
    for t in tasks:
        t.cancel()
    for _, w in conns:
        w.close()
    sw.close()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"in_per_s": m / t_in, "delivered": got, "expected": want, "leaked": leaked,
            "server_cpu_s": cpu[0], "load_cpu_s": cpu[1], "wall_s": last - t0,
            "delivered_per_s": got / max(last - t0, 1e-9),
            "p99_ms": float(np.percentile(lat, 99) * 1000) if len(lat) else float("nan")}


def _ours(n: int, m: int, folder: Path) -> dict:
    from borderwatch.channel import create_deployment, load_deployment
    from borderwatch.scenario import load_scenario

    dep_dir = folder / "dep"
    dep = load_deployment(dep_dir) if (dep_dir / "deployment.toml").exists() else \
        create_deployment(load_scenario("iraq-syria"), dep_dir)
    port = _free_port()
    db = folder / f"tak-{n}.db"
    proc = subprocess.Popen([sys.executable, "-c", _OURS, str(dep_dir), str(db), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    spy = None
    if os.environ.get("BENCH_TAK_SPY"):                 # profile the server: py-spy's collapsed stacks
        spy = subprocess.Popen(["py-spy", "record", "-p", str(proc.pid), "-r", "200", "--gil", "-f", "raw",
                                "-o", f"{os.environ['BENCH_TAK_SPY']}-{n}.txt"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc)

        def ctx(party: str) -> ssl.SSLContext:
            c = ssl.create_default_context(cafile=str(dep.ca_cert_path))
            c.load_cert_chain(dep.client_cert_path(party), dep.client_key_path(party))
            return c

        allowed = dep.policy.allowed("sighting")
        entitled = [ctx(p) for p in dep.party_ids if p in allowed]
        others = [ctx(p) for p in dep.party_ids if p not in allowed]
        row = asyncio.run(_load(port, n, m, entitled, ctx(dep.policy.owner), others, server_pid=proc.pid))
        if row["leaked"]:
            raise RuntimeError(f"{row['leaked']} sightings reached parties they are not released to")
        return row
    finally:
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
        proc.terminate()
        proc.wait(10)


def _taky(n: int, m: int, folder: Path) -> dict:
    port = _free_port()
    root = folder / f"taky-{n}"
    root.mkdir()
    conf = root / "taky.conf"
    conf.write_text(f"[taky]\nhostname = localhost\nnode_id = BENCH\nbind_ip = 127.0.0.1\nroot_dir = {root}\n\n"
                    f"[cot_server]\nport = {port}\n\n[ssl]\nenabled = false\n")
    proc = subprocess.Popen([TAKY, "-c", str(conf), "-l", "error"], cwd=root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_port(port, proc)
        return asyncio.run(_load(port, n, m, [None], None, server_pid=proc.pid))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _fmt(r: dict) -> str:
    return (f"in {r['in_per_s']:,.0f}/s, delivered {r['delivered']:,}/{r['expected']:,} at "
            f"{r['delivered_per_s']:,.0f}/s, p99 {r['p99_ms']:.0f} ms; CPU over {r['wall_s']:.2f} s: "
            f"server {r['server_cpu_s']:.2f} s, load generator {r['load_cpu_s']:.2f} s")


def run(ns=NS) -> list[dict]:
    """One row per N: ours vs taky (delivered events/s), with the details in the note."""
    rows = []
    folder = Path(tempfile.mkdtemp(prefix="bench-tak-"))
    taky_ok = shutil.which(TAKY) is not None or Path(TAKY).exists()
    try:
        for n in ns:
            m = TOTAL_DELIVERIES // n
            ours = _ours(n, m, folder)
            note = (f"N={n}, M={m} sightings; ours (mTLS, releasability on: N receivers of iq-mod/us, "
                    f"3 observers got 0, signed+stored+tracked): {_fmt(ours)}")
            peer_s = None
            if taky_ok:
                try:
                    tk = _taky(n, m, folder)
                    peer_s = tk["delivered_per_s"]
                    note += f"; taky (plain TCP, to all): {_fmt(tk)}"
                except Exception as exc:  # noqa: BLE001 - say why, never fake a figure
                    note += f"; taky failed to run: {type(exc).__name__}: {exc}"
            else:
                note += f"; taky not installed at {TAKY}"
            rows.append({"name": f"TAK fan-out, {n} clients (delivered events/s)",
                         "ours_s": ours["delivered_per_s"], "peer": "taky 0.10", "peer_s": peer_s,
                         "note": note})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run([int(a) for a in sys.argv[1:]] or NS):
        print(row)
