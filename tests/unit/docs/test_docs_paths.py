"""The docs name only modules, attributes and files that exist: a move or a rename that
leaves a doc behind fails here."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[3]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy/n8n/README.md"]
_DOTTED = re.compile(r"`(activitylog(?:_api|_cli|_ingest|_retry|_testing)?(?:\.\w+)+)`")
_PATH = re.compile(r"`((?:shared|services|tests|bench|deploy|testing|clients)/[\w./-]+)`")
_SHORT = re.compile(r"^\| `…/(\w+)/`", re.M)


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_and_file_a_doc_names_exists(doc: Path) -> None:
    text = doc.read_text()
    missing = [name for name in _DOTTED.findall(text) if not _resolves(name)]
    missing += [
        path
        for path in _PATH.findall(text)
        if not any(ROOT.glob(path.rstrip("/").split("*")[0] + "*"))
    ]
    missing += [
        f"…/{name}/"
        for name in _SHORT.findall(text)
        if not (ROOT / "shared/activitylog" / name).is_dir()
    ]
    assert missing == [], f"{doc.name} names what does not exist"
