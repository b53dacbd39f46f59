"""`borderwatch channel init | audit verify | serve | demo`."""

from __future__ import annotations

import signal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="The multi-party channel: signed envelopes, released per party, stored, "
                       "audited.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the store's audit chain.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
console = Console(highlight=False, soft_wrap=True)

STORE_FILE = "channel.db"


def _store_arg(deployment, store: str | None) -> str:
    """--store: a SQLite path or a database URL; by default DEPLOYMENT/channel.db."""
    return str(deployment.path / STORE_FILE) if store is None else store


@app.command()
def init(
    scenario: str = typer.Argument(..., help="A bundled scenario name or a path to its .toml."),
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the new deployment."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing deployment "
                                   "(destroys every party's keys)."),
    host: list[str] = typer.Option(None, "--host", help="A name or address clients will use to reach the "
                                   "server (repeat for several; default: localhost and 127.0.0.1). The "
                                   "server certificate names exactly these."),
) -> None:
    """Create a deployment: party keys, a CA with TLS certificates, and the policy."""
    from borderwatch.channel import create_deployment
    from borderwatch.scenario import load_scenario

    kw = {"server_hosts": tuple(host)} if host else {}
    dep = create_deployment(load_scenario(scenario), output, overwrite=overwrite, **kw)
    table = Table(title=f"deployment {dep.id} for {dep.scenario}")
    for col in ("party", "name", "role", "receives"):
        table.add_column(col)
    for p in dep.parties:
        kinds = [k for k, allowed in dep.policy.rules.items() if p.id in allowed]
        table.add_row(p.id, p.name, p.role, ", ".join(kinds) or "—")
    console.print(table)
    console.print(f"wrote {dep.path} (owner: {dep.policy.owner}; hand each party its "
                  "parties/<id> folder, ca/ca.crt and deployment.toml)")


@audit_app.command("verify")
def audit_verify(
    deployment: Path = typer.Argument(..., help="The deployment folder."),
    store: str = typer.Option(None, "--store", help="SQLite file or database URL "
                              f"(default: DEPLOYMENT/{STORE_FILE})."),
) -> None:
    """Recompute the hash chain and every signature; name the first bad record."""
    from borderwatch.channel import Store, load_deployment, verify
    from borderwatch.errors import ChannelError

    dep = load_deployment(deployment)
    url = _store_arg(dep, store)
    if "://" not in url and not Path(url).exists():
        raise ChannelError(f"{url}: no such store file")
    with Store(url, dep, create=False) as s:
        report = verify(s, dep)
        counts = _counts(s)
    if not report.ok:
        report.raise_if_bad()
    console.print(f"OK: {report.records} records, chain head {report.head.seq} "
                  f"{report.head.hash[:16]}…, {counts['recipients']} deliveries, "
                  f"{counts['acks']} acknowledgements; every signature verifies")


def _counts(store) -> dict[str, int]:
    from sqlalchemy import func, select

    from borderwatch.channel.schema import acks, recipients

    with store.reading() as conn:
        return {"recipients": int(conn.execute(select(func.count()).select_from(recipients)).scalar_one()),
                "acks": int(conn.execute(select(func.count()).select_from(acks)).scalar_one())}


@app.command()
def serve(
    deployment: Path = typer.Argument(..., help="The deployment folder."),
    store: str = typer.Option(None, "--store", help="SQLite file or database URL "
                              f"(default: DEPLOYMENT/{STORE_FILE})."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8443, "--port", help="Port to listen on."),
    tls: bool = typer.Option(True, "--tls/--no-tls", help="Mutual TLS with the deployment's "
                             "certificates (--no-tls: plain HTTP, signed tokens only)."),
) -> None:
    """Run the channel API (REST + WebSocket, OpenAPI at /openapi.json) under uvicorn."""
    from borderwatch.channel import Store, load_deployment
    from borderwatch.channel.api import make_server
    from borderwatch.errors import ChannelError

    if not 0 < port < 65536:
        raise ChannelError(f"--port must be 1–65535, got {port}")
    dep = load_deployment(deployment)
    with Store(_store_arg(dep, store), dep) as s:
        server = make_server(dep, s, host=host, port=port, tls=tls,
                             auth=("mtls", "token") if tls else ("token",), log_level="info")
        scheme = "https" if tls else "http"
        console.print(f"channel {dep.id} ({dep.scenario}) on {scheme}://{host}:{port} — store "
                      f"{s.url}; {'mutual TLS and ' if tls else ''}signed tokens")
        server.run()
    if server.signal is not None:                # said once the store is closed, as it says
        console.print(f"{signal.Signals(server.signal).name}: stopped (every acknowledged envelope "
                      f"is committed; store {s.url} closed)")


@app.command()
def demo(
    scenario: str = typer.Argument("iraq-syria", help="A bundled scenario name or a path to its .toml."),
    output: Path = typer.Option(Path("channel-demo"), "-o", "--output", help="Folder for the "
                                "deployment and the store."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a demo folder made before."),
    plan: Path = typer.Option(None, "--plan", help="A plan folder from `borderwatch plan -o DIR` (or its "
                              "plan-full.json) to simulate against; default: plan the scenario first."),
) -> None:
    """A simulated breach, published, delivered over mutual TLS to those allowed, acknowledged."""
    from borderwatch.channel.breach_feed import run_demo
    from borderwatch.errors import ChannelError

    loaded = None
    if plan is not None:
        from borderwatch.plan import read_plan

        path = plan / "plan-full.json" if plan.is_dir() else plan
        if not path.is_file():
            raise ChannelError(f"{path}: no plan there; run `borderwatch plan SCENARIO -o DIR` first")
        loaded = read_plan(path)
    result = run_demo(scenario, output, overwrite=overwrite, plan=loaded)
    b = result["breach"]
    console.print(f"breach: track {b['track_id']} crossed at chainage {b['chainage_km']:.2f} km "
                  f"(sector {b['sector']}, {b['lat']:.4f}N {b['lon']:.4f}E), confidence "
                  f"{b['confidence']:.2f}, seen by {', '.join(b['sensors'])}")
    console.print(f"server: {result['url']} (mutual TLS, deployment CA); store {result['store']}")
    table = Table(title="who got what")
    for col in ("party", "breach", "latency", "track", "ack", "history", "count"):
        table.add_column(col)
    for row in result["rows"]:
        lat = f"{row['breach_ms']:.1f} ms" if row["breach_ms"] is not None else "—"
        table.add_row(row["party"], "received" if row["breach"] else "nothing", lat,
                      "received" if row["track"] else "withheld", row["ack"] or "—",
                      str(row["history"]), str(row["count"]))
    console.print(table)
    for line in result["notes"]:
        console.print(line)
    console.print(f"audit: {result['audit']}")
