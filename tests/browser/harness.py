"""Headless Chromium (Debian's package, driven by Playwright for Python) against the real local
stack: the browser, pages that record what must never happen (script errors, CSP violations,
dialogs), axe-core checks and screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "webapp" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / ".local" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
# Records what the page must never do; set before any page script runs (CDP, not a <script>).
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


def chromium_path() -> str:
    """Debian's chromium, or a failure naming the package (make test installs it as root)."""
    if not CHROMIUM.exists() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Chromium at {CHROMIUM}: install the Debian package "
            "'chromium' (apt-get install chromium; `make test` does it when run as root), or "
            "set CHROMIUM=/path/to/chromium. Playwright's own browser download is not used."
        )
    return str(CHROMIUM)


def launch(playwright: Any) -> Any:
    """One headless Chromium; WebGL (MapLibre) through SwiftShader."""
    args = ["--enable-unsafe-swiftshader", "--use-angle=swiftshader", "--disable-dev-shm-usage"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox as root
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)


@dataclass
class Watched:
    """A page and what it did that it must not: errors, CSP violations, dialogs."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        return list(self.page.evaluate("() => window.__violations || []"))

    def assert_clean(self) -> None:
        """No script error, no CSP violation, no dialog (alert/confirm/prompt) so far."""
        assert self.errors == [], self.errors
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.violations() == []


@contextmanager
def watched_page(
    browser: Any, base_url: str, viewport: dict[str, int] | None = None
) -> Iterator[Watched]:
    """A fresh context (own storage: a new visitor) with one watched page."""
    context = browser.new_context(
        base_url=base_url, viewport=viewport or DESKTOP, accept_downloads=True
    )
    context.add_init_script(WATCH)
    page = context.new_page()
    page.set_default_timeout(15_000)
    watched = Watched(page)
    page.on("pageerror", lambda exc: watched.errors.append(f"pageerror: {exc}"))

    def on_console(msg: Any) -> None:
        # An API answering 401/404 is logged by Chromium as a failed resource: not a fault.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            watched.errors.append(f"console: {msg.text}")

    page.on("console", on_console)

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    try:
        yield watched
        watched.assert_clean()
    finally:
        context.close()


def assert_accessible(page: Any, label: str) -> None:
    """axe-core (the npm devDependency) on the page as it is: no serious or critical issue."""
    if not AXE.exists():
        pytest.fail(f"{AXE} missing: run `make webapp` (npm ci)")
    # The page's CSP refuses inline scripts (add_script_tag's way): evaluated through the
    # DevTools protocol instead, which a page's CSP does not govern.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    violations = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations
                .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => `${v.id} (${v.impact}): ${v.help} -> `
                    + v.nodes.map((n) => n.target.join(' ')).join(', '));
        }"""
    )
    assert violations == [], f"{label}: {violations}"


def screenshot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot to .local/screenshots/NAME.png (gitignored) for people to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def clear_screenshots() -> None:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
