"""deploy/Dockerfile and .dockerignore: pinned, multi-stage, non-root, and buildable.

Without a Docker engine the build is proven piece by piece: the build context that
.dockerignore leaves holds everything `pip install .` needs, and the wheel built from it
holds every package file (migrations, templates, static files) the roles need.
"""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import DOCKERFILE, REPO

from activitylog_testing.ports import free_port

HEALTHCHECK = REPO / "deploy" / "healthcheck.py"
PACKAGES = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
    "targets"
]["wheel"]["packages"]


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def resolve(image: str) -> str:
    args = {}
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name] = default
        if keyword == "FROM":
            break
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m[1] or m[2]], image)


def test_multi_stage_and_every_base_image_pinned() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "build tools stay in the build stage"
    for stage in all_stages:
        image = resolve(stage[0][1].split()[0])
        name, _, tag = image.partition("@")[0].rpartition(":")
        assert name, image
        assert re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), f"not pinned: {image}"
        minor = tuple(int(x) for x in tag.split(".")[:2])
        assert minor >= (3, 11), f"{image}: pyproject requires Python >= 3.11"
    assert "COPY --from=build /opt/venv /opt/venv" in DOCKERFILE.read_text()


def test_the_final_user_is_not_root() -> None:
    final = stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage sets no USER, so it runs as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    assert "useradd" in DOCKERFILE.read_text()
    assert user == "10001", "numeric, so Kubernetes runAsNonRoot can verify it"


def test_the_image_installs_this_repository_with_pip() -> None:
    text = DOCKERFILE.read_text()
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert f'org.opencontainers.image.version="{version}"' in text
    assert re.search(r"pip install \.(\s|$)", text)
    final = stages()[-1]
    assert ("ENTRYPOINT", '["activitylog"]') in final


# --- the build context ---------------------------------------------------------------------


def _pattern(glob: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it (Go filepath.Match plus `**`)."""
    glob = glob.strip().strip("/")
    out = ""
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif glob.startswith("**", i):
            out += ".*"
            i += 2
        elif glob[i] == "*":
            out += "[^/]*"
            i += 1
        elif glob[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(glob[i])
            i += 1
    return re.compile(out + r"\Z")


def context_files() -> list[str]:
    """Files `docker build .` would send: the last matching rule for a path or a parent wins."""
    rules = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        raw = raw.strip()
        if raw and not raw.startswith("#"):
            rules.append((raw.startswith("!"), _pattern(raw.lstrip("!"))))
    kept = []
    skip = {".git", ".venv", "node_modules", ".pytest_cache", ".ruff_cache"}
    for path in sorted(REPO.rglob("*")):
        rel = path.relative_to(REPO)
        if not path.is_file() or rel.parts[0] in skip:
            continue
        prefixes = ["/".join(rel.parts[: n + 1]) for n in range(len(rel.parts))]
        included = True
        for exception, pattern in rules:
            if any(pattern.match(p) for p in prefixes):
                included = exception
        if included:
            kept.append(rel.as_posix())
    return kept


def test_dockerignore_keeps_only_what_the_build_copies() -> None:
    files = context_files()
    assert "pyproject.toml" in files
    assert "README.md" in files
    assert "deploy/healthcheck.py" in files
    for source in ("shared/", "services/"):
        assert any(f.startswith(source) for f in files), source
    for forbidden in (".env", "tests/", "bench/", "data/", "test-artifacts/", "compose.yaml"):
        assert not any(f == forbidden or f.startswith(forbidden) for f in files), forbidden
    assert not any("__pycache__" in f or f.endswith(".pyc") for f in files)
    for keyword, rest in instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert any(f == source or f.startswith(source.rstrip("/") + "/") for f in files), (
                    f"COPY {source}: not in the build context"
                )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel `pip install .` builds from exactly the Docker build context."""
    base = tmp_path_factory.mktemp("context")
    context = base / "src"
    for rel in context_files():
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    out = base / "dist"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--quiet", "--wheel-dir", str(out), str(context)),
        ],
        check=True,
        timeout=120,
    )
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_every_package_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = []
    for package in PACKAGES:
        root = REPO / package
        for path in root.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                expected.append(f"{root.name}/{path.relative_to(root).as_posix()}")
    missing = sorted(set(expected) - names)
    assert not missing, f"files the image would lack: {missing}"
    assert any(
        n.startswith("activitylog/runtime/migrations/") and n.endswith(".sql") for n in names
    )
    # The helpers the tests and benchmarks share are for development only.
    assert not any(n.startswith("activitylog_testing/") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "activitylog = activitylog_cli.main:cli" in wheel.read(entry_points).decode()


# --- the health probe the compose healthchecks run -------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def probe(url: str) -> int:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), url, "2"], capture_output=True, timeout=30
    ).returncode


def test_healthcheck_probe_exit_codes(http_server: int) -> None:
    assert probe(f"http://127.0.0.1:{http_server}/ok") == 0
    assert probe(f"http://127.0.0.1:{http_server}/not-ready") == 1
    assert probe(f"http://127.0.0.1:{free_port()}/metrics") == 1
    assert probe("not a url") == 1


def test_healthcheck_probe_needs_only_the_standard_library() -> None:
    imports = re.findall(r"^(?:from|import) (\w+)", HEALTHCHECK.read_text(), re.M)
    assert set(imports) <= {"__future__", "sys", "urllib"}, imports
    assert Path(HEALTHCHECK).stat().st_size < 4000
