"""A PostgreSQL cluster of a test's own: made with ``initdb`` in a temporary directory
and served on a free port, so that crashing, freezing or restarting it disturbs no
other test (and never the shared server on 5432).

The server runs as the ``postgres`` user (``initdb`` refuses root); the tests that use
it are skipped where PostgreSQL's binaries are missing, unless RETELL_REQUIRE_SERVICES
is set, when they fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory, or None."""
    for candidate in BIN_CANDIDATES:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One PostgreSQL server of the test's own: start, crash, freeze, thaw, restart."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self.host = "127.0.0.1"
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run(
            self.bindir / "initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        settings = (
            f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{root}'\nfsync = on\n"
            "max_connections = 50\nshared_buffers = 16MB\n"
            # What no commit has flushed stays unflushed for 10 s, not 0.2 s: a crash
            # soon after a rolled-back save then loses that save's sequence advance
            # every time (tests/faults/crash_scenario.py).
            "wal_writer_delay = 10s\n"
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(settings)
        self.start()
        self.admin("CREATE DATABASE test")

    @property
    def conninfo(self) -> str:
        return f"host={self.host} port={self.port} dbname=test user=postgres"

    def env(self, schema: str, **more: str) -> dict[str, str]:
        """The env of a `retell.postgres` application whose tables live in `schema`."""
        return {
            "PERSISTENCE_MODULE": "retell.postgres",
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DBNAME": "test",
            "POSTGRES_USER": "postgres",
            "POSTGRES_SCHEMA": schema,
            **more,
        }

    def _run(self, *args: object) -> None:
        subprocess.run(
            [*self._as_postgres, *(str(a) for a in args)],
            check=True,
            capture_output=True,
            cwd=self.root,
        )

    def _ctl(self, *args: str) -> None:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-w", "-t", "60", *args)

    def start(self) -> None:
        self._ctl("-l", str(self.root / "server.log"), "start")
        self.wait_until_up()

    def wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(
                    f"host={self.host} port={self.port} dbname=postgres user=postgres",
                    connect_timeout=2,
                ).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def crash(self) -> None:
        """Stop at once, as a crash would: no checkpoint, no flush of what is not yet
        on disk (``pg_ctl stop -m immediate``)."""
        self._ctl("stop", "-m", "immediate")

    def restart_after_crash(self) -> None:
        self.crash()
        self.start()

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("stop", "-m", "fast")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def _server_pids(self) -> list[int]:
        """The postmaster and every backend it runs."""
        parent = self.postmaster_pid()
        children = subprocess.run(
            ["pgrep", "-P", str(parent)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [parent, *(int(pid) for pid in children)]

    def freeze(self) -> None:
        """Stop every process of the server (SIGSTOP): connections stay open, nothing answers."""
        for pid in self._server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._server_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    @contextlib.contextmanager
    def frozen(self, seconds: float) -> Iterator[threading.Event]:
        """Freeze the server now; thaw it after `seconds` (from a thread of its own) or on
        leaving the block, whichever comes first. The event is set once it is thawed.

        A test that hangs on the frozen server still ends (the thread thaws it), and one
        that fails leaves no server stopped behind."""
        thawed = threading.Event()
        lock = threading.Lock()

        def thaw() -> None:
            with lock:
                if not thawed.is_set():
                    self.thaw()
                    thawed.set()

        timer = threading.Timer(seconds, thaw)
        timer.daemon = True
        try:
            self.freeze()
            timer.start()
            yield thawed
        finally:
            timer.cancel()
            thaw()

    def restart(self) -> None:
        """Stop (closing every session, as an administrator's restart does) and start."""
        self._ctl("stop", "-m", "fast")
        self.start()

    def admin(self, query: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        """The rows of one statement, run in autocommit on a connection of its own."""
        with psycopg.connect(
            f"host={self.host} port={self.port} dbname={dbname} user=postgres", autocommit=True
        ) as connection:
            cursor = connection.execute(query.encode())
            return cursor.fetchall() if cursor.description else []

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.thaw()
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def own_cluster() -> Iterator[Cluster]:
    bindir = binaries()
    assert bindir is not None, "PostgreSQL's initdb and pg_ctl are not installed"
    root = Path(tempfile.mkdtemp(prefix="retell-cluster-"))
    os.chmod(root, 0o755)
    cluster = None
    try:
        cluster = Cluster(bindir, root)
        yield cluster
    finally:
        if cluster is not None:
            cluster.remove()
        else:
            shutil.rmtree(root, ignore_errors=True)
