"""A full disk or a read-only store: publishes fail with a clear error, nothing is half-written.

"Disk full" is a real server process whose file-size limit (RLIMIT_FSIZE,
SIGXFSZ ignored) stops the SQLite file from growing: writes fail with
EFBIG exactly as on a full disk. A read-only store is the store's folder
made immutable (`chattr +i`, which binds root too, as tests run as root);
where the filesystem cannot do that the test says so and skips.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from borderwatch import load_scenario
from borderwatch.channel import Store, create_deployment, load_deployment
from borderwatch.channel.audit import verify
from borderwatch.channel.client import ChannelClient, ChannelHTTPError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_kill9 import _free_port, _serve  # noqa: E402


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    root = tmp_path_factory.mktemp("diskfull")
    create_deployment(load_scenario("iraq-syria"), root / "dep")
    return root / "dep"


def _limited_server(dep_dir: Path, db: Path, port: int, limit_bytes: int) -> subprocess.Popen:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    cmd = [sys.executable, "-m", "borderwatch.cli", "channel", "serve", str(dep_dir), "--store", str(db),
           "--no-tls", "--port", str(port)]
    import socket
    import time

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def test_disk_full_refuses_clearly_and_loses_nothing(deployment, tmp_path):
    dep = load_deployment(deployment)
    db = tmp_path / "store.db"
    # Create the store and a little history with no limit.
    port = _free_port()
    proc = _serve(deployment, db, port)
    owner = dep.policy.owner
    acked = []
    with ChannelClient(f"http://127.0.0.1:{port}", dep.identity(owner)) as c:
        for i in range(20):
            env = c.seal("sighting", {"i": i}, releasable_to=dep.party_ids)
            c.publish(env)
            acked.append(env.id)
    proc.terminate()
    proc.wait()
    size = sum(p.stat().st_size for p in tmp_path.iterdir() if p.name.startswith("store.db"))

    # Now the same store with room for only a few more pages.
    port = _free_port()
    proc = _limited_server(deployment, db, port, size + 64 * 1024)
    errors = []
    try:
        with ChannelClient(f"http://127.0.0.1:{port}", dep.identity(owner)) as c:
            for i in range(2000):
                env = c.seal("sighting", {"i": 100 + i, "pad": "x" * 2000}, releasable_to=dep.party_ids)
                try:
                    c.publish(env)
                    acked.append(env.id)
                except ChannelHTTPError as exc:
                    errors.append(exc)
                    if len(errors) >= 3:
                        break
            assert errors, "the size limit never bit"
            print("disk full:", errors[0])
            for exc in errors:
                assert 500 <= exc.status < 600
                assert "storage" in str(exc).lower() or "disk" in str(exc).lower(), str(exc)
                assert "Traceback" not in str(exc)
            # The server is still up and still answers reads.
            assert c.count() >= 20
    finally:
        proc.terminate()
        proc.wait()

    # Restart with no limit: every acknowledged envelope is there once; the chain verifies.
    with Store(db, dep) as store:
        assert verify(store, dep).ok
        seen = [d.envelope.id for d in store.fetch(owner, after=0, limit=10_000)]
        assert len(seen) == len(set(seen))
        assert set(acked) <= set(seen)
        assert len(seen) == len(acked), "an unacknowledged envelope was stored"


def _chattr(flag: str, *paths: Path) -> bool:
    try:
        subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError):
        return False


def test_read_only_store_refuses_writes_and_changes_nothing(deployment, tmp_path):
    dep = load_deployment(deployment)
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "store.db"
    with Store(db, dep) as store:
        ident = dep.identity(dep.policy.owner)
        for i in range(5):
            store.publish(ident.seal("sighting", {"i": i}, releasable_to=dep.party_ids))
    files = sorted(folder.iterdir())
    before = {p.name: p.read_bytes() for p in files}
    if not _chattr("+i", *files, folder):
        pytest.skip("this filesystem cannot make files immutable (chattr +i)")
    try:
        port = _free_port()
        cmd = [sys.executable, "-m", "borderwatch.cli", "channel", "serve", str(deployment), "--store",
               str(db), "--no-tls", "--port", str(port)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        import socket
        import time

        up = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    up = True
                    break
            except OSError:
                time.sleep(0.05)
        if up:
            # It serves, but a publish is refused with a clear 5xx and nothing is written.
            with ChannelClient(f"http://127.0.0.1:{port}", dep.identity(dep.policy.owner)) as c:
                env = c.seal("sighting", {"late": 1}, releasable_to=dep.party_ids)
                with pytest.raises(ChannelHTTPError) as err:
                    c.publish(env)
                assert 500 <= err.value.status < 600 and "Traceback" not in str(err.value)
                print("read-only store, publish refused:", err.value)
            proc.terminate()
            proc.wait()
        else:
            # It refuses to start: one line, exit 2, no traceback.
            out, errtext = proc.communicate(timeout=30)
            text = (out + errtext).decode()
            assert proc.returncode == 2, text
            assert "Traceback" not in text and "store" in text.lower(), text
            print("read-only store, server refused to start:", text.strip())
    finally:
        _chattr("-i", *files, folder)
    after = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    assert after == before
