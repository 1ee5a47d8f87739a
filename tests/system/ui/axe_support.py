"""axe-core in Playwright: inject the pinned axe.min.js and list serious or critical issues."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from playwright.async_api import Page

AXE_JS = Path(__file__).parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
SEVERE = ("serious", "critical")


def _installed_axe() -> Path:
    """The pinned axe-core, installed from the lockfile on first use (about 3 MB)."""
    if not AXE_JS.is_file():
        folder = AXE_JS.parents[2]
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=folder,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return AXE_JS


async def severe_violations(page: Page) -> list[str]:
    """Each serious/critical axe violation on the page as "rule: targets" (WCAG 2.x A/AA)."""
    axe_js = _installed_axe()
    # Evaluated as a script rather than a <script> tag: the UI's CSP allows only its own.
    await page.evaluate(axe_js.read_text())
    result: dict[str, Any] = await page.evaluate(
        """() => axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
            resultTypes: ['violations'],
        })"""
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v.get("impact") in SEVERE
    ]
