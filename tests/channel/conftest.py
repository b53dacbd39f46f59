"""Channel fixtures: one Iraq–Syria deployment per session, its parties' keys, and stores.

Store tests run on SQLite (a file in tmp_path) and on PostgreSQL. For
PostgreSQL, give a server with ``BORDERWATCH_TEST_PG`` (a URL whose user may
create databases); otherwise a throwaway cluster is started here (initdb in
a temporary folder, as the ``postgres`` user when we are root since the
server refuses to run as root, on a free loopback port) and stopped after
the session. Each test gets a fresh database. Without PostgreSQL binaries or
the psycopg driver the PostgreSQL cases are skipped, saying which is missing.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from borderwatch.channel import create_deployment


@pytest.fixture(scope="session")
def deployment(iraq_syria, tmp_path_factory):
    return create_deployment(iraq_syria, tmp_path_factory.mktemp("channel") / "deployment")


@pytest.fixture(scope="session")
def ids(deployment):
    """Each party's signing identity, by party id."""
    return {pid: deployment.identity(pid) for pid in deployment.party_ids}


# -- PostgreSQL ---------------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server URL (admin database), or a skip saying why there is none."""
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("PostgreSQL tests need the psycopg driver (pip install 'psycopg[binary]')")
    given = os.environ.get("BORDERWATCH_TEST_PG")
    if given:
        yield given
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL tests need initdb/pg_ctl (apt-get install postgresql) "
                    "or a server URL in BORDERWATCH_TEST_PG")
    run_as: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="bw-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        os.chown(folder, user.pw_uid, user.pw_gid)
        run_as = ["su", "postgres", "-c"]

    def run(args: list[str]) -> None:
        cmd = run_as + [" ".join(args)] if run_as else args
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    port = _free_port()
    data = folder / "data"
    try:
        run([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"])
        run([pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
             f"'-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off'", "start"])
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL: {exc}")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        try:
            run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _pg_admin(url: str, sql: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "channel.db")
        return
    server = request.getfixturevalue("pg_server")
    name = f"bw_{uuid.uuid4().hex[:12]}"
    _pg_admin(server, f"CREATE DATABASE {name}")
    base = server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _pg_admin(server, f"DROP DATABASE {name} WITH (FORCE)")


def _raw_sql(url: str, *statements: str | tuple[str, tuple]) -> None:
    """Tamper with a store behind its back: plain SQL on its database, one transaction."""
    if "://" not in url:
        conn = sqlite3.connect(url)
        try:
            with conn:
                for st in statements:
                    sql, params = (st, ()) if isinstance(st, str) else st
                    conn.execute(sql, params)
        finally:
            conn.close()
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        # Like a raw sqlite3 connection (foreign keys off): an insider with superuser
        # rights can switch the foreign-key triggers off too.
        conn.execute("SET session_replication_role = replica")
        for st in statements:
            sql, params = (st, ()) if isinstance(st, str) else st
            conn.execute(sql.replace("?", "%s"), params)


@pytest.fixture
def raw_sql():
    """`raw_sql(url, *statements)`: tamper with a store's database behind its back."""
    return _raw_sql
