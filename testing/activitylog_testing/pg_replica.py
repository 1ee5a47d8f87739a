"""A real PostgreSQL primary and its streaming replica on free local ports, for tests and benches.

Debian's PostgreSQL 15 binaries, run as the `postgres` user (they refuse root) in a temporary
folder it owns; the replica is seeded with `pg_basebackup -R` (it then streams from the primary).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from activitylog_testing.ports import free_port

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


def available() -> str | None:
    """Why a pair cannot start here, or None when it can."""
    if not (BIN / "pg_basebackup").exists():
        return f"no PostgreSQL binaries in {BIN} (set PG_BIN)"
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return "starting PostgreSQL as the postgres user needs root and runuser"
    return None


def _run(*args: str | Path) -> None:
    cmd = ["runuser", "-u", OS_USER, "--", *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603 - our own arguments
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")


@dataclass
class PgPair:
    """The two servers' folders and ports; `url` names a database on either."""

    base: Path
    primary_port: int
    replica_port: int

    @property
    def primary_dir(self) -> Path:
        return self.base / "primary"

    @property
    def replica_dir(self) -> Path:
        return self.base / "replica"

    def primary_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}/{database}"

    def replica_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/{database}"

    def _ctl(self, folder: Path, *args: str) -> None:
        _run(BIN / "pg_ctl", "-D", folder, "-l", folder.with_suffix(".log"), *args)

    def start_primary(self) -> None:
        self._ctl(self.primary_dir, "-w", "-t", "60", "start")

    def start_replica(self) -> None:
        self._ctl(self.replica_dir, "-w", "-t", "60", "start")

    def stop_replica(self, mode: str = "immediate") -> None:
        self._ctl(self.replica_dir, "-m", mode, "-w", "stop")

    def seed_replica(self) -> None:
        """Copy the running primary with pg_basebackup -R: the copy starts as its standby."""
        _run(
            BIN / "pg_basebackup",
            "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
            "-D", self.replica_dir, "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        with (self.replica_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\n")

    def stop(self) -> None:
        for folder in (self.replica_dir, self.primary_dir):
            if (folder / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self._ctl(folder, "-m", "immediate", "-w", "stop")


_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockets}'
wal_level = replica
max_wal_senders = 5
hot_standby = on
# A test server: durability is not the point, speed on a shared machine is.
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 40
"""


@contextlib.contextmanager
def primary_and_replica() -> Iterator[PgPair]:
    """A running primary and a replica streaming from it; both stopped and removed after."""
    base = Path(tempfile.mkdtemp(prefix="activitylog-pgpair-"))
    shutil.chown(base, OS_USER, OS_USER)
    pair = PgPair(base, free_port(), free_port())
    try:
        _run(BIN / "initdb", "-D", pair.primary_dir, "-U", "postgres", "--auth=trust", "-N")
        with (pair.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(_CONF.format(port=pair.primary_port, sockets=base))
        with (pair.primary_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        pair.start_primary()
        pair.seed_replica()
        pair.start_replica()
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(base, ignore_errors=True)
