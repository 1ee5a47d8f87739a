"""A real local Redis Cluster (masters with replicas) on free ports, for tests and benchmarks.

Each node is a `redis-server --cluster-enabled yes` child process without persistence; the
cluster is formed with `redis-cli --cluster create`. A short cluster-node-timeout makes a
replica take over within a few seconds of its master's death.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import redis as redis_sync
from redis.crc import key_slot

from activitylog_testing.ports import free_port


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed (Debian: apt-get install redis-server)")
    return found


def _port_pair() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10_000 > 65_535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class LocalRedisCluster:
    """`masters` masters with `replicas` replicas each; `start`, then `stop` (deletes all)."""

    def __init__(self, *, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 1500) -> None:
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.dir = Path(tempfile.mkdtemp(prefix="activitylog-cluster-"))
        self.ports: list[int] = []
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        log = (self.dir / f"redis-{port}.log").open("ab")
        return subprocess.Popen(  # noqa: S603 - our own arguments
            [
                _binary("redis-server"),
                "--port", str(port),
                "--bind", "127.0.0.1",
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.dir / f"nodes-{port}.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                "--daemonize", "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip

    def start(self, timeout_s: float = 60) -> LocalRedisCluster:
        count = self.masters * (1 + self.replicas)
        self.ports = [_port_pair() for _ in range(count)]
        for port in self.ports:
            self.procs[port] = self._spawn(port)
        deadline = time.monotonic() + timeout_s
        for port in self.ports:
            self._poll(lambda p=port: self.client(p).ping(), deadline, f"node {port} to answer")
        created = subprocess.run(  # noqa: S603 - our own arguments
            [_binary("redis-cli"), "--cluster", "create"]
            + [f"127.0.0.1:{p}" for p in self.ports]
            + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed: {created.stdout}{created.stderr}"
            )
        self.wait_ok(deadline)
        return self

    def client(self, port: int) -> redis_sync.Redis:
        return redis_sync.Redis(port=port, socket_connect_timeout=1, socket_timeout=2)

    def _poll(self, check: Callable[[], object], deadline: float, what: str) -> None:
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except (redis_sync.RedisError, OSError) as exc:
                last = exc
            if last:
                return
            time.sleep(0.05)
        raise TimeoutError(f"timed out waiting for {what}; last {last!r}")

    def live_ports(self) -> list[int]:
        return [p for p in self.ports if self.procs[p].poll() is None]

    def wait_ok(self, deadline: float | None = None) -> None:
        """Until every live node says cluster_state:ok, every slot has a live master and
        every live replica's link to its master is up."""
        deadline = deadline or time.monotonic() + 60

        def ok() -> bool:
            for port in self.live_ports():
                info = self.client(port).execute_command("CLUSTER", "INFO")
                if b"cluster_state:ok" not in info:
                    return False
                replication = self.client(port).info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
            return len(self.masters_by_slot_range()) == self.masters

        self._poll(ok, deadline, "the cluster to be ok")

    def masters_by_slot_range(self) -> dict[tuple[int, int], int]:
        """Each slot range's live master port, as a live node sees the cluster."""
        port = self.live_ports()[0]
        ranges: dict[tuple[int, int], int] = {}
        for start, end, master, *_ in self.client(port).execute_command("CLUSTER", "SLOTS"):
            master_port = int(master[1])
            if master_port in self.live_ports():
                ranges[(int(start), int(end))] = master_port
        return ranges

    def master_of(self, key: str) -> int:
        slot = key_slot(key.encode())
        for (start, end), port in self.masters_by_slot_range().items():
            if start <= slot <= end:
                return port
        raise LookupError(f"no live master serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node: what a crashed host looks like to the others."""
        self.procs[port].kill()
        self.procs[port].wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def local_redis_cluster(**kwargs: int) -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster(**kwargs)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
