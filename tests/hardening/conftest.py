"""A private PostgreSQL cluster the hardening tests may stop and restart at will.

(The channel tests share one throwaway cluster per worker; restarting that one
would pull the floor from under them, so these tests start their own, with
fsync on, as a real deployment runs.)
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


class Cluster:
    """initdb + pg_ctl on a free loopback port, as the postgres user when we are root."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        self.folder = Path(tempfile.mkdtemp(prefix="bw-pg-hard-"))
        self.data = self.folder / "data"
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.folder, user.pw_uid, user.pw_gid)
            self.run_as = ["su", "postgres", "-c"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, args: list[str]) -> None:
        cmd = self.run_as + [" ".join(args)] if self.run_as else args
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run([self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def start(self) -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-o",
                   f"'-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1'", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop"])

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def pg_cluster():
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("PostgreSQL tests need the psycopg driver (pip install 'psycopg[binary]')")
    if not _pg_bin("initdb") or not _pg_bin("pg_ctl"):
        pytest.skip("PostgreSQL tests need initdb/pg_ctl (apt-get install postgresql)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        if os.geteuid() == 0:
            pytest.skip("running as root and there is no postgres user to run the server as")
    c = Cluster()
    try:
        c.init()
        c.start()
    except subprocess.CalledProcessError as exc:
        c.remove()
        pytest.skip(f"could not start a private PostgreSQL: {exc.stderr!r}")
    try:
        yield c
    finally:
        try:
            c.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        c.remove()
