"""`borderwatch serve DEPLOYMENT`, `borderwatch replay RUN_DIR --to HOST:PORT`,
`borderwatch channel tak-package DEPLOYMENT --party P -o FILE.zip`."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
STORE_FILE = "channel.db"


def serve(
    deployment: Path = typer.Argument(..., help="The deployment folder (`borderwatch channel init`)."),
    store: str = typer.Option(None, "--store", help=f"SQLite file or database URL (default: DEPLOYMENT/{STORE_FILE})."),
    scenario: str = typer.Option(None, "--scenario", help="The deployment's scenario, if it is not a bundled "
                                 "name (a path to its .toml)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    tls_port: int = typer.Option(8089, "--tls-port", help="CoT over TLS with client certificates (0: off)."),
    tcp_port: int = typer.Option(8087, "--tcp-port", help="CoT over plain TCP, only with --tcp-party."),
    tcp_party: str = typer.Option(None, "--tcp-party", help="Open plain TCP; every TCP client speaks for this "
                                  "party (nothing authenticates it: labs only)."),
    http_port: int = typer.Option(8443, "--http-port", help="The channel's HTTPS API and the web map (0: off)."),
    plan: Path = typer.Option(None, "--plan", help="A plan folder (`borderwatch plan -o DIR`) for the map."),
    sim: Path = typer.Option(None, "--sim", help="A simulation folder (`borderwatch simulate -o DIR`) the "
                             "map's time slider replays."),
    stats_every: float = typer.Option(60.0, "--stats-every", help="Seconds between the server's one-line "
                                      "statistics in the log (0: none)."),
) -> None:
    """Run the TAK CoT server (TLS 8089, optional TCP 8087), the channel API and the web map in one process."""
    import asyncio
    import logging

    from borderwatch.channel import Store, load_deployment
    from borderwatch.channel.tak_server import TakServer
    from borderwatch.errors import ChannelError

    if not (stats_every >= 0 and math.isfinite(stats_every)):
        raise ChannelError(f"--stats-every must be a number of seconds ≥ 0, got {stats_every}")
    for name, port in (("--tls-port", tls_port), ("--tcp-port", tcp_port), ("--http-port", http_port)):
        if not 0 <= port < 65536:
            raise ChannelError(f"{name} must be 0-65535, got {port}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # The event loop releases the GIL many times a message (lxml parses, socket calls) and
    # must win it back from the tracker and sealing threads; at Python's default 5 ms switch
    # interval each win can wait that long and the loop falls behind its clients. 0.5 ms keeps
    # it responsive at a small cost in switches (measured with bench/load_tak.py).
    sys.setswitchinterval(0.0005)
    dep = load_deployment(deployment)
    url = str(dep.path / STORE_FILE) if store is None else store
    for name, folder in (("--plan", plan), ("--sim", sim)):
        if folder is not None and not folder.is_dir():
            raise ChannelError(f"{name} {folder}: no such folder")
    web_options = {k: v for k, v in (("plan_dir", plan), ("sim_dir", sim)) if v is not None}

    async def main() -> None:
        with Store(url, dep) as s:
            srv = TakServer(dep, s, scenario, host=host, tls_port=tls_port or None,
                            tcp_port=tcp_port if tcp_party else None, tcp_party=tcp_party,
                            http_port=http_port or None, web_options=web_options,
                            stats_every_s=stats_every if stats_every > 0 else None)
            await srv.start()
            console.print(f"borderwatch TAK server for {dep.scenario} (deployment {dep.id}); store {s.url}")
            if srv.tls_port:
                console.print(f"  CoT TLS  {host}:{srv.tls_port}  client certificate = party "
                              f"({', '.join(dep.party_ids)})")
            if srv.tcp_port:
                console.print(f"  CoT TCP  {host}:{srv.tcp_port}  unauthenticated, speaks for {tcp_party}")
            if srv.http_port:
                console.print(f"  API      https://{host}:{srv.http_port}  (mutual TLS or signed tokens)")
                if getattr(srv.web, "logins", None):
                    from borderwatch.web import write_logins

                    # Login codes are secrets: written 0600 for the operator, never printed or logged.
                    path = write_logins(srv.web, dep.path / "web-logins.toml")
                    console.print(f"  map      https://{host}:{srv.http_port}/  (party login codes in {path})")
            # SIGTERM (systemd, docker stop) closes like Ctrl-C does: listeners stop, and what is
            # queued is sealed and committed before the store closes. Without a handler Python
            # would die at once and lose the reports still waiting to be sealed.
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, stop.set)
            serving = asyncio.ensure_future(srv.serve_forever())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                done, _ = await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if serving in done:
                    serving.result()
                else:
                    console.print("SIGTERM: closing (queued reports are sealed and stored first)")
            finally:
                for t in (serving, stopping):
                    t.cancel()
                await asyncio.gather(serving, stopping, return_exceptions=True)
                await srv.close()
                console.print(f"stopped: {srv.stats.stored} reports stored in {srv.stats.envelopes} envelopes")

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        console.print("stopped")


def replay(
    run_dir: Path = typer.Argument(..., help="A run folder: its detections.npz, or (with --record) the "
                                   "plan-full.json that `borderwatch simulate -o DIR` wrote."),
    to: str = typer.Option(..., "--to", help="The TAK server, HOST:PORT."),
    speed: float = typer.Option(60.0, "--speed", help="Times real time (inf: as fast as possible)."),
    tls: bool = typer.Option(False, "--tls", help="Connect over TLS with --party's client certificate."),
    party: str = typer.Option(None, "--party", help="The party whose certificate to present (with --tls)."),
    deployment: Path = typer.Option(None, "--deployment", help="The deployment folder holding that certificate."),
    record_: bool = typer.Option(False, "--record", help="Record the run's detections first (from its plan)."),
    plan_dir: Path = typer.Option(None, "--plan", help="With --record: the plan folder (default RUN_DIR)."),
    hours: float = typer.Option(1.0, "--hours", help="With --record: the simulated window."),
    seed: int = typer.Option(0, "--seed", help="With --record: the seed."),
    share: float = typer.Option(None, "--share", help="With --record: share of the threat that crosses."),
) -> None:
    """Send a simulated run's sensor reports to a TAK server as CoT sightings."""
    import asyncio

    from borderwatch.channel import replay as rp
    from borderwatch.errors import ChannelError

    host, _, port_text = to.rpartition(":")
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ChannelError(f"--to {to!r}: give HOST:PORT, such as 127.0.0.1:8089")
    context = None
    if tls:
        if party is None or deployment is None:
            raise ChannelError("--tls needs --party P and --deployment DIR (the party's client certificate)")
        from borderwatch.channel import load_deployment

        context = rp.client_ssl(load_deployment(deployment), party)
    if record_:
        from borderwatch.cli.simulate_cmd import _read_plan_arg
        from borderwatch.scenario import load_scenario

        plan = _read_plan_arg(plan_dir or run_dir)
        rec = rp.record(load_scenario(plan.scenario), plan, hours=hours, seed=seed, share=share, out=run_dir)
        console.print(f"recorded {len(rec)} reports from {len(rec.sensors)} sensors over {hours:g} h "
                      f"→ {run_dir / rp.DETECTIONS_FILE}")
    else:
        rec = rp.load(run_dir)
    pace = "as fast as possible" if math.isinf(speed) else f"{speed:g}× real time"
    console.print(f"replaying {len(rec)} reports ({rec.scenario}, {rec.hours:g} h) to {to}, {pace}")
    got = asyncio.run(rp.replay(rec, host, int(port_text), speed=speed, ssl_context=context,
                                progress=lambda n, total: console.print(f"  {n}/{total}")))
    console.print(f"sent {got['sent']} sightings in {got['wall_s']:.1f} s "
                  f"({got['simulated_s']:.0f} simulated seconds)")


def tak_package(
    deployment: Path = typer.Argument(..., help="The deployment folder."),
    party: str = typer.Option(..., "--party", help="The party the package is for."),
    output: Path = typer.Option(..., "-o", "--output", help="The .zip to write."),
    host: str = typer.Option("127.0.0.1", "--host", help="The server address the client connects to."),
    port: int = typer.Option(8089, "--port", help="The server's CoT TLS port."),
    password: str = typer.Option(None, "--password", help="PKCS#12 password (default: generated, printed once)."),
) -> None:
    """Write an ATAK data package: the server connection and the party's certificate."""
    from borderwatch.channel import load_deployment
    from borderwatch.channel.tak_package import make_tak_package

    pkg = make_tak_package(load_deployment(deployment), party, output, host=host, port=port, password=password)
    console.print(f"wrote {pkg.path} for {pkg.party}: connects to {pkg.host}:{pkg.port}:ssl")
    if pkg.generated:
        console.print(f"certificate password (shown once, stored nowhere): {pkg.password}")
    for w in pkg.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")
