"""The README keeps its promises: two commands first, every setting documented."""

from __future__ import annotations

import re

from activitylog.runtime.settings import Settings
from support import REPO

README = (REPO / "README.md").read_text()


def test_readme_starts_with_exactly_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    commands = [line for line in first_block.group(1).splitlines() if line.strip()]
    assert [c.split("#")[0].strip() for c in commands] == ["make up", "make test-all"]


def test_every_setting_is_documented_with_a_default() -> None:
    table = README.split("settings-table", 1)[1]
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, re.M))
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README"
    assert documented - expected == set(), "README documents settings that do not exist"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test-all" in (REPO / ".ci" / "run").read_text()
