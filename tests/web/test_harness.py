"""The browser-test harness works end to end: a real app under uvicorn, the vendored htmx swapping
a fragment in Debian's Chromium under a strict Content-Security-Policy, axe-core finding (and not
finding) accessibility violations, and a screenshot; and the vendored files are the ones
VERSIONS.md and SHA256SUMS name."""

from __future__ import annotations

import hashlib
import re
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from browser import VENDOR, axe_violations, serve_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

if TYPE_CHECKING:
    from playwright.sync_api import Page

# As strict as the web app's: no inline script or style, nothing from another origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# htmx 2 adds an inline <style> for its request indicators unless told not to; the CSP refuses it.
HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/vendor/uplot/uPlot.min.css">
<meta name="htmx-config" content='{{"includeIndicatorStyles": false}}'>
<script src="/static/vendor/htmx/htmx.min.js"></script></head>"""
PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="

PAGES = {
    "/": """<body><main><h1>Harness</h1>
<button type="button" hx-get="/fragment" hx-target="#out">Count customers</button>
<p id="out">not yet</p></main></body></html>""",
    "/clean": f"""<body><main><h1>Clean</h1><img src="{PIXEL}" alt="A pixel">
<button type="button">Refresh</button></main></body></html>""",
    "/broken": f"""<body><main><h1>Broken</h1><img src="{PIXEL}">
<button type="button"></button></main></body></html>""",
    "/chart": """<body><main><h1>Chart</h1><div id="chart"></div></main>
<script src="/static/vendor/uplot/uPlot.iife.min.js"></script><script src="/chart.js"></script>
</body></html>""",
    "/inline-script": """<body><main><h1>Inline</h1><script>document.title = "ran";</script>
</main></body></html>""",
}


async def page_view(request: Request) -> HTMLResponse:
    path = request.url.path
    html = HEAD.format(title=path) + PAGES[path]
    return HTMLResponse(html, headers={"content-security-policy": CSP})


async def fragment(request: Request) -> HTMLResponse:
    assert request.headers["hx-request"] == "true"  # htmx, not a plain navigation, asked
    return HTMLResponse('<strong id="count">1,234 customers</strong>')


# A script file, not an inline one: what the web app's pages do under their CSP.
CHART_JS = """new uPlot(
  {title: "Customers", width: 400, height: 200, series: [{}, {label: "customers", stroke: "blue"}]},
  [[1, 2, 3, 4], [120, 150, 140, 180]],
  document.getElementById("chart"));"""


async def chart_js(request: Request) -> Response:
    return Response(CHART_JS, media_type="text/javascript")


def harness_app() -> Starlette:
    routes: list[BaseRoute] = [Route(path, page_view) for path in PAGES]
    routes += [
        Route("/fragment", fragment),
        Route("/chart.js", chart_js),
        Mount("/static/vendor", StaticFiles(directory=VENDOR), name="vendor"),
    ]
    return Starlette(routes=routes)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serve_app(harness_app()) as url:
        yield url


def test_htmx_swaps_a_fragment_in_chromium(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert page.evaluate("() => htmx.version") == vendored_version("htmx.org")
    page.get_by_role("button", name="Count customers").click()
    page.locator("#out #count").wait_for()
    assert page.locator("#out").inner_text() == "1,234 customers"


def test_uplot_draws_a_chart_under_the_csp(page: Page, base_url: str, tmp_path: Path) -> None:
    page.goto(base_url + "/chart")
    chart = page.locator("#chart .uplot")
    chart.wait_for()
    assert chart.locator(".u-title").inner_text() == "Customers"
    assert page.evaluate("() => document.querySelector('#chart canvas').width") > 0
    # Its stylesheet applies: uPlot.min.css centres the title in bold.
    style = chart.locator(".u-title").evaluate(
        "e => [getComputedStyle(e).textAlign, getComputedStyle(e).fontWeight]"
    )
    assert style == ["center", "700"]
    page.screenshot(path=tmp_path / "chart.png")


def test_axe_reports_serious_violations(page: Page, base_url: str) -> None:
    page.goto(base_url + "/broken")
    found = axe_violations(page)
    assert {v.id for v in found} == {"image-alt", "button-name"}
    assert {v.impact for v in found} <= {"serious", "critical"}
    assert all(v.help and v.targets for v in found)
    assert next(v for v in found if v.id == "image-alt").targets == ("img",)


def test_axe_reports_nothing_on_a_clean_page(page: Page, base_url: str) -> None:
    page.goto(base_url + "/clean")
    assert axe_violations(page) == []
    # Impacts filter the report: the same page does break a minor best-practice rule or none.
    assert all(v.impact == "minor" for v in axe_violations(page, impacts=("minor",)))


def test_a_refused_inline_script_is_reported(
    page: Page, base_url: str, browser_errors: list[str]
) -> None:
    page.goto(base_url + "/inline-script")
    assert page.title() == "/inline-script"  # the CSP kept the script from running
    assert len(browser_errors) == 1
    assert browser_errors[0].startswith("CSP: ")
    browser_errors.clear()  # caused on purpose: the fixture's teardown check would fail


def test_a_screenshot_is_saved(page: Page, base_url: str, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 640, "height": 360})
    page.goto(base_url + "/clean")
    shot = tmp_path / "clean.png"
    page.screenshot(path=shot, full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20]), int.from_bytes(data[20:24])) == (640, 360)


def test_serve_app_serves_then_stops() -> None:
    with serve_app(harness_app()) as url:
        assert httpx.get(url + "/clean").headers["content-security-policy"] == CSP
        port = int(url.rsplit(":", 1)[1])
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", port), timeout=1),
    ):
        pass


def test_serve_app_reports_an_app_that_cannot_start() -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield

    with (
        pytest.raises(RuntimeError, match="did not start"),
        serve_app(Starlette(lifespan=lifespan)),
    ):
        pass


# --- the vendored files ---------------------------------------------------------------------


def vendored_version(package: str) -> str:
    """The version VERSIONS.md gives for a package."""
    text = (VENDOR / "VERSIONS.md").read_text(encoding="utf-8")
    found = re.search(rf"^\| {re.escape(package)} \| ([^ |]+) \|", text, re.MULTILINE)
    assert found, f"{package} is not in VERSIONS.md"
    return found.group(1)


def test_vendored_files_match_their_checksums() -> None:
    sums = {}
    for line in (VENDOR / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    on_disk = {
        p.relative_to(VENDOR).as_posix()
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name not in {"SHA256SUMS", "VERSIONS.md"}
    }
    assert set(sums) == on_disk
    for name, digest in sums.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize(
    ("package", "folder"), [("htmx.org", "htmx"), ("uplot", "uplot"), ("axe-core", "axe-core")]
)
def test_each_vendored_package_has_a_version_and_its_licence(package: str, folder: str) -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", vendored_version(package))
    assert (VENDOR / folder / "LICENSE").stat().st_size > 0
