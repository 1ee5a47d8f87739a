"""A real n8n for the template tests: installed in a cache, its own throwaway database,
the templates imported and the webhook workflows activated, served on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from activitylog.use_cases.access.keys import generate_key
from activitylog_testing.databases import database_url, drop_database
from activitylog_testing.polling import wait_for
from activitylog_testing.ports import free_port
from tcp_proxy import TcpProxy
from webhook_sink import WebhookSink

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE.parents[2] / "deploy" / "n8n"
TEST_WORKFLOWS = HERE / "workflows"
PAYLOADS = HERE / "payloads"
INSTALL_SCRIPT = HERE / "install_n8n.sh"

N8N_VERSION = "1.123.0"
CACHE_ROOT = Path(os.environ.get("ACTIVITYLOG_CACHE", Path.home() / ".cache" / "activitylog"))
N8N_BIN = CACHE_ROOT / f"n8n-{N8N_VERSION}" / "node_modules" / ".bin" / "n8n"
INSTALLED_MARKER = N8N_BIN.parent.parent.parent / ".installed"

# The ids the templates reference: importing with them keeps every link intact.
API_KEY_CREDENTIAL = ("ActLogApiKey0001", "Activity log API key")
POSTGRES_CREDENTIAL = ("ActLogPostgres01", "Activity log database")
SIMPLETEXTING_CREDENTIAL = ("SimpleTextingApi", "SimpleTexting API")
SIMPLETEXTING_TOKEN = "st-test-token"
SMS_TEST_WORKFLOW = "ActLogSmsTest001"
WEBHOOK_WORKFLOWS = ("ActLogStDelivery", "ActLogStInbound1", "ActLogCalendly01", "ActLogTestCaller")


# What the fallback's PostgreSQL credential needs, exactly as deploy/n8n/README.md grants it:
# the insert (ON CONFLICT reads queue_id). No template looks anything up in the database.
CREDENTIAL_GRANTS = (
    "GRANT INSERT (queue_id, operation_type, lead_id, payload, last_error, status,"
    " next_retry_at), SELECT (queue_id) ON retry_queue TO {role}",
)


def n8n_log(name: str) -> Path:
    """Where n8n's output goes: the test artifacts, kept after the run."""
    artifacts = Path(os.environ.get("TEST_ARTIFACTS", HERE.parents[2] / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    return artifacts / name


def n8n_installed() -> bool:
    return INSTALLED_MARKER.exists() and N8N_BIN.exists()


def payload(name: str) -> dict[str, Any]:
    """A provider's sample payload from tests/system/n8n/payloads."""
    data: dict[str, Any] = json.loads((PAYLOADS / name).read_text())
    return data


@dataclass(frozen=True)
class N8nConfig:
    """Where n8n keeps its state and what its workflows reach."""

    admin_url: str  # PostgreSQL server for n8n's own throwaway database
    api_url: str  # ACTIVITYLOG_API_URL
    alert_url: str  # ACTIVITYLOG_ALERT_WEBHOOK_URL
    api_key: str  # the x-api-key of the API key credential
    # host, port, database, user, password of the fallback's credential; None: no such
    # credential at all (the basic path, which needs only the API key)
    events_db: tuple[str, int, str, str, str] | None
    folder: Path  # N8N_USER_FOLDER and the files imported
    log_path: Path


@dataclass
class N8n:
    """A running n8n server."""

    url: str
    config: N8nConfig
    process: subprocess.Popen[bytes]
    database_url: str  # n8n's own
    env: dict[str, str]

    async def execute(self, workflow_id: str, **extra_env: str) -> int:
        """`n8n execute --id=…` (from its Manual Trigger) in a CLI process of its own, with
        `extra_env` added to the server's environment; its exit code."""
        return await _cli(
            self.env | extra_env,
            self.config.log_path,
            "execute",
            f"--id={workflow_id}",
            check=False,
        )

    def webhook_url(self, path: str) -> str:
        return f"{self.url}/webhook/{path}"

    async def finished_executions(self, workflow_id: str) -> int:
        """How many executions of the workflow n8n has finished, as its database says."""
        conn = await asyncpg.connect(self.database_url)
        try:
            count: int = await conn.fetchval(
                'SELECT count(*) FROM execution_entity WHERE "workflowId" = $1'
                " AND status IN ('success', 'error', 'crashed')",
                workflow_id,
            )
        finally:
            await conn.close()
        return count


@dataclass
class N8nHarness:
    """The module's n8n and what its workflows reach: the API's port (nothing listens
    there unless a test serves the API on it), the alert sink and a cuttable path to the
    events database (the fallback's credential)."""

    server: N8n
    api_port: int
    api_key: str
    sink: WebhookSink
    db_path: TcpProxy


def _env(config: N8nConfig, database: str, port: int) -> dict[str, str]:
    pg = urlsplit(config.admin_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_"))}
    env.update(
        {
            "DB_TYPE": "postgresdb",
            "DB_POSTGRESDB_HOST": pg.hostname or "127.0.0.1",
            "DB_POSTGRESDB_PORT": str(pg.port or 5432),
            "DB_POSTGRESDB_DATABASE": database,
            "DB_POSTGRESDB_USER": pg.username or "postgres",
            "DB_POSTGRESDB_PASSWORD": pg.password or "",
            "N8N_USER_FOLDER": str(config.folder),
            "N8N_PORT": str(port),
            "N8N_LISTEN_ADDRESS": "127.0.0.1",
            "N8N_HOST": "127.0.0.1",
            "WEBHOOK_URL": f"http://127.0.0.1:{port}/",
            "N8N_ENCRYPTION_KEY": "activitylog-tests-only",
            # What the issue found necessary here: no task runners (not installed with
            # --ignore-scripts), no telemetry, and $env readable by the templates.
            "N8N_RUNNERS_ENABLED": "false",
            "N8N_DIAGNOSTICS_ENABLED": "false",
            "N8N_BLOCK_ENV_ACCESS_IN_NODE": "false",
            # Nothing else that reaches outside this machine.
            "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
            "N8N_TEMPLATES_ENABLED": "false",
            "N8N_PERSONALIZATION_ENABLED": "false",
            "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
            "N8N_LOG_LEVEL": "warn",
            "GENERIC_TIMEZONE": "UTC",
            "EXECUTIONS_MODE": "regular",
            "ACTIVITYLOG_API_URL": config.api_url,
            "ACTIVITYLOG_ALERT_WEBHOOK_URL": config.alert_url,
        }
    )
    return env


def _credentials(config: N8nConfig) -> list[dict[str, object]]:
    credentials: list[dict[str, object]] = [
        {
            "id": API_KEY_CREDENTIAL[0],
            "name": API_KEY_CREDENTIAL[1],
            "type": "httpHeaderAuth",
            "data": {"name": "x-api-key", "value": config.api_key},
        },
        {
            "id": SIMPLETEXTING_CREDENTIAL[0],
            "name": SIMPLETEXTING_CREDENTIAL[1],
            "type": "httpBearerAuth",
            "data": {"token": SIMPLETEXTING_TOKEN},
        },
    ]
    if config.events_db is None:
        return credentials
    host, port, database, user, password = config.events_db
    credentials.append(
        {
            "id": POSTGRES_CREDENTIAL[0],
            "name": POSTGRES_CREDENTIAL[1],
            "type": "postgres",
            "data": {
                "host": host,
                "port": port,
                "database": database,
                "user": user,
                "password": password,
                "ssl": "disable",
            },
        }
    )
    return credentials


async def _cli(env: dict[str, str], log_path: Path, *args: str, check: bool = True) -> int:
    """One n8n CLI command to completion; its output goes to the log."""
    with open(log_path, "ab") as log:
        log.write(f"\n$ n8n {' '.join(args)}\n".encode())
        log.flush()
        proc = await asyncio.create_subprocess_exec(
            str(N8N_BIN), *args, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        code = await asyncio.wait_for(proc.wait(), timeout=180)
    if check and code != 0:
        raise RuntimeError(f"n8n {' '.join(args)} exited {code}; see {log_path}")
    return code


async def _activate(n8n_database_url: str, workflow_ids: Iterable[str]) -> None:
    """Activate imported workflows, as `n8n update:workflow --active=true` would.

    n8n 1.123's import writes no workflow_history version, and activation points the
    workflow at one (a foreign key), so the CLI's update fails on a fresh import; the
    editor creates the version when a workflow is saved. This writes that version from
    the imported workflow and then sets exactly what the CLI's update sets.
    """
    conn = await asyncpg.connect(n8n_database_url)
    try:
        async with conn.transaction():
            await conn.execute(
                """
                INSERT INTO workflow_history
                    ("versionId", "workflowId", authors, nodes, connections, name)
                SELECT "versionId", id, 'import', nodes, connections, name
                FROM workflow_entity WHERE id = ANY($1::text[])
                ON CONFLICT DO NOTHING
                """,
                list(workflow_ids),
            )
            await conn.execute(
                """
                UPDATE workflow_entity SET active = true, "activeVersionId" = "versionId"
                WHERE id = ANY($1::text[])
                """,
                list(workflow_ids),
            )
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def credential_role(database_url_: str) -> AsyncIterator[tuple[str, str]]:
    """A login role with only the templates' grants on the events database, for the
    PostgreSQL credential; (name, password), dropped afterwards."""
    role = f"n8n_templates_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    conn = await asyncpg.connect(database_url_)
    try:
        await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        for grant in CREDENTIAL_GRANTS:
            await conn.execute(grant.format(role=role))
        yield role, password
    finally:
        await conn.execute(f"DROP OWNED BY {role}")  # its grants
        await conn.execute(f"DROP ROLE {role}")
        await conn.close()


def _sms_scheduler_for_tests() -> dict[str, Any]:
    """The SMS scheduler with its *Messages due* placeholder replaced, as its README asks:
    here by the messages in $env.TEST_MESSAGES_DUE (JSON), given to `n8n execute`."""
    workflow: dict[str, Any] = json.loads((TEMPLATES / "sms-scheduler.json").read_text())
    workflow.update(id=SMS_TEST_WORKFLOW, name="Test: SMS scheduler", versionId=str(uuid.uuid4()))
    (due,) = (n for n in workflow["nodes"] if n["name"] == "Messages due")
    due["parameters"]["jsCode"] = (
        "return JSON.parse($env.TEST_MESSAGES_DUE).map((json) => ({ json }));\n"
    )
    return workflow


def _import_folder(folder: Path, files: Iterable[Path]) -> Path:
    target = folder / "import"
    target.mkdir(parents=True, exist_ok=True)
    for file in files:
        shutil.copy(file, target / file.name)
    (target / "sms-scheduler-test.json").write_text(json.dumps(_sms_scheduler_for_tests()))
    return target


@contextlib.asynccontextmanager
async def running_n8n(config: N8nConfig) -> AsyncIterator[N8n]:
    """n8n with the templates imported, the webhook workflows active, serving on a free port;
    its database is dropped afterwards."""
    database = f"n8n_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(config.admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    port = free_port()
    env = _env(config, database, port)
    config.log_path.write_bytes(b"")
    process: subprocess.Popen[bytes] | None = None
    try:
        config.folder.mkdir(parents=True, exist_ok=True)
        credentials = config.folder / "credentials.json"
        credentials.write_text(json.dumps(_credentials(config)))
        workflows = _import_folder(
            config.folder,
            [*sorted(TEMPLATES.glob("*.json")), *sorted(TEST_WORKFLOWS.glob("*.json"))],
        )
        started = time.monotonic()
        await _cli(env, config.log_path, "import:credentials", f"--input={credentials}")
        await _cli(env, config.log_path, "import:workflow", "--separate", f"--input={workflows}")
        await _activate(database_url(config.admin_url, database), WEBHOOK_WORKFLOWS)
        with open(config.log_path, "ab") as log:
            log.write(f"\n# imports took {time.monotonic() - started:.1f}s\n$ n8n start\n".encode())
            process = subprocess.Popen(
                [str(N8N_BIN), "start"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        n8n_database = database_url(config.admin_url, database)
        server = N8n(f"http://127.0.0.1:{port}", config, process, n8n_database, env)
        n8n_db = await asyncpg.connect(n8n_database)
        try:

            async def ready() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"n8n exited {process.returncode}; see {config.log_path}")
                # n8n records a webhook here once its workflow is active and serving.
                count = await n8n_db.fetchval(
                    'SELECT count(DISTINCT "workflowId") FROM webhook_entity'
                    ' WHERE "workflowId" = ANY($1::text[])',
                    list(WEBHOOK_WORKFLOWS),
                )
                return count == len(WEBHOOK_WORKFLOWS)

            await wait_for(ready, timeout=120, interval=0.25, message="n8n to serve webhooks")
        finally:
            await n8n_db.close()
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), timeout=30)
            except TimeoutError:
                process.kill()
                process.wait()
        await drop_database(config.admin_url, database)


@contextlib.asynccontextmanager
async def n8n_harness(
    admin_url: str,
    events_database_url: str,
    folder: Path,
    log_path: Path,
    *,
    fallback: bool,
) -> AsyncIterator[N8nHarness]:
    """A running n8n for a test module, with the alert sink, the API's port and a path to
    the events database; with `fallback`, the retry_queue fallback's PostgreSQL credential
    (a role with exactly its grants, through the cuttable path), else no such credential."""
    events_db = urlsplit(events_database_url)
    db_path = TcpProxy(events_db.hostname or "127.0.0.1", events_db.port or 5432)
    await db_path.start()
    sink = WebhookSink()
    await sink.start()
    api_port = free_port()
    try:
        async with contextlib.AsyncExitStack() as stack:
            credential = None
            if fallback:
                role, password = await stack.enter_async_context(
                    credential_role(events_database_url)
                )
                database = events_db.path.lstrip("/")
                credential = ("127.0.0.1", db_path.port, database, role, password)
            config = N8nConfig(
                admin_url=admin_url,
                api_url=f"http://127.0.0.1:{api_port}",
                alert_url=sink.url,
                api_key=generate_key(),
                events_db=credential,
                folder=folder,
                log_path=log_path,
            )
            server = await stack.enter_async_context(running_n8n(config))
            yield N8nHarness(server, api_port, config.api_key, sink, db_path)
    finally:
        await sink.stop()
        await db_path.cut()
