"""Browser-test helpers: Debian's Chromium driven by Playwright, an ASGI app served on loopback,
and axe-core's accessibility check.

The browser is Debian's ``/usr/bin/chromium`` (``scripts/system-packages.sh`` installs it), never
one that Playwright downloads: this machine reaches only the package registries. The fixtures
that use these helpers are in ``tests/web/conftest.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

import herald
from herald.sandbox.server import listen_socket

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
#: Headless as root, on a closed network: the background-networking flags keep Chromium from
#: calling Google's services, whose connections this network refuses (and slow every start).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VENDOR = Path(herald.__file__).parent / "web" / "static" / "vendor"
AXE_JS = VENDOR / "axe-core" / "axe.min.js"


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (Playwright or Chromium missing), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[test]'"
    if not CHROMIUM.exists():
        return f"Debian's Chromium is missing ({CHROMIUM}): run bash scripts/system-packages.sh"
    return None


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Headless Chromium from ``/usr/bin/chromium``, closed on exit.

    A fresh user-data directory per launch: Playwright makes a temporary one for ``launch``.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", timeout: float = 10.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free port in a background thread.

    Mirrors ``herald.sandbox.SandboxServer``: the socket is bound first (so the port is known
    and taken before the thread starts), and the server is stopped and joined on exit.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash).

    Raises:
        RuntimeError: when the app does not start within ``timeout`` seconds (a failing
            lifespan startup, for one).
    """
    sock = listen_socket(host, 0)
    url = f"http://{host}:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app, log_level="warning", lifespan="auto", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)

    def run() -> None:
        # uvicorn calls sys.exit when the app's startup fails; _wait_started reports that.
        with suppress(SystemExit):
            server.run(sockets=[sock])

    thread = threading.Thread(target=run, name="herald-test-app", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread, url, timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_started(
    server: uvicorn.Server, thread: threading.Thread, url: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            msg = f"the app did not start on {url} within {timeout} s (see uvicorn's log above)"
            raise RuntimeError(msg)
        time.sleep(0.01)


@dataclass(frozen=True)
class AxeViolation:
    """One axe-core rule that the page breaks, with the elements that break it."""

    id: str
    impact: str
    help: str
    targets: tuple[str, ...]
    """A CSS selector per element (selectors into iframes or shadow roots joined by " >> ")."""

    def __str__(self) -> str:
        return f"{self.impact} {self.id}: {self.help} ({', '.join(self.targets)})"


# Runs the whole rule set and returns only what the helper reports, to keep the payload small.
_RUN_AXE = """async (impacts) => {
  const result = await window.axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => impacts.includes(v.impact))
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  targets: v.nodes.map((n) => n.target.flat(Infinity).join(" >> "))}));
}"""


def axe_violations(
    page: Page, impacts: Sequence[str] = ("serious", "critical")
) -> list[AxeViolation]:
    """The page's accessibility violations of the given impacts, found by the vendored axe-core.

    axe-core is read from ``herald/web/static/vendor`` and evaluated in the page through
    Playwright rather than added as an inline ``<script>``: the web app's Content-Security-Policy
    refuses inline scripts (``page.add_script_tag(content=...)`` fails there), and DevTools'
    evaluation is not subject to it, so the check runs on the pages exactly as they are served.

    Args:
        page: a loaded page.
        impacts: the impacts to report, of axe's "minor", "moderate", "serious", "critical".
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("() => {\n" + AXE_JS.read_text(encoding="utf-8") + "\n}")
    found = page.evaluate(_RUN_AXE, list(impacts))
    return [AxeViolation(v["id"], v["impact"], v["help"], tuple(v["targets"])) for v in found]


def sign_in_by_keyboard(page: Page, url: str, token: str) -> None:
    """Open ``url``, sign in with ``token`` on the login page it leads to, by keyboard alone,
    and land back on ``url``."""
    from playwright.sync_api import expect

    page.goto(url)
    page.get_by_label("Password").focus()
    page.keyboard.type(token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(url)


def settled(page: Page) -> None:
    """Wait until htmx has swapped and settled the page (its new controls are live)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def choose(page: Page, selector: str, value: str) -> None:
    """Pick an option of a drop-down that re-renders the page through htmx, and wait for it."""
    from playwright.sync_api import expect

    settled(page)
    page.locator(selector).select_option(value)
    expect(page.locator(selector)).to_have_value(value)
    settled(page)


DOCS = Path(__file__).resolve().parents[1] / "docs"
UPDATE_SCREENSHOTS = "HERALD_UPDATE_SCREENSHOTS"
"""Set to 1 to write the README's screenshots into docs/ (otherwise they go to a temporary
folder, so that running the tests leaves the checkout unchanged)."""


def docs_screenshot(page: Any, name: str, scratch: Path) -> Path:
    """A full-page screenshot for the README: ``docs/NAME`` when ``HERALD_UPDATE_SCREENSHOTS=1``,
    else in ``scratch``; the file written, never empty."""
    folder = DOCS if os.environ.get(UPDATE_SCREENSHOTS) == "1" else scratch
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path
