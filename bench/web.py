"""Benchmark: the web app's Segment Editor on 1M customers, through its own HTTP routes.

Issue 11's targets: an editor page renders in ≤ 150 ms; a Refresh (insights and the narrowing
waterfall of the conditions on screen) returns in ≤ 1.5 s; a picklist of a 1M-row column in
≤ 500 ms (cached per database file version, so a second one is instant).

The app runs in this process behind Starlette's test client (no network: the server's own
time), signed in as an editor. Each round opens a five-condition segment in the editor (the
page's render), submits the form on screen with Refresh (what the browser posts), and asks
for a picklist of ``Customer_360.city`` cold (Herald's picklist cache emptied) and warm. The
measures are interleaved round by round, so a slow spell of the shared machine hits them all.

    python bench/web.py              # 1M customers, 5 rounds
    python bench/web.py --rounds 3

Results go to docs/benchmarks.md (section "web").
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import demo_database, git_revision, machine, peak_rss_mb, write_section
from segment_editor import SEGMENT

AS_OF = dt.date(2026, 6, 30)
TARGETS = {"editor page": 0.150, "Refresh": 1.5, "picklist, cold": 0.5, "picklist, warm": 0.5}
TOKEN = "bench-web-token-0123456789"


class FormFields(HTMLParser):
    """The fields a browser would post from the form with id ``editor``."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self._inside = False
        self._select: str | None = None
        self._chosen = False
        self._pending: tuple[dict[str, str], str] | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._inside = a.get("id") == "editor"
        if tag == "option" and self._inside and self._select is not None:
            self._pending = (a, "")  # its value may be its text: taken at </option>
            return
        if not self._inside or "name" not in a:
            return
        if tag == "input" and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((a["name"], a.get("value", "")))
        elif tag == "select":
            self._select, self._chosen = a["name"], False
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields.append((a["name"], ""))

    def _option(self, a: dict[str, str], text: str) -> None:
        """A select posts its selected option, else its first one."""
        assert self._select is not None
        value = a.get("value", text.strip())
        if "selected" in a:
            if self._chosen:
                self.fields.pop()  # the first option, taken while none was selected
            self.fields.append((self._select, value))
            self._chosen = True
        elif not self._chosen:
            self.fields.append((self._select, value))
            self._chosen = True  # a default is recorded; a selected one replaces it

    def handle_data(self, data: str) -> None:
        if self._pending is not None:
            attrs, text = self._pending
            self._pending = (attrs, text + data)
        if self._textarea is not None:
            name, text = self.fields.pop()
            self.fields.append((name, text + data))

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._pending is not None:
            self._option(*self._pending)
            self._pending = None
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def form_of(html: str) -> list[tuple[str, str]]:
    parser = FormFields()
    parser.feed(html)
    return parser.fields


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def client_for(root: Path) -> Any:
    from starlette.testclient import TestClient

    from herald.web.app import create_app
    from herald.workspace import Workspace

    os.environ["HERALD_WEB_TOKEN"] = TOKEN
    with Workspace.open(root) as ws:
        app = create_app(root, settings=ws.settings)
    client = TestClient(app, base_url="http://127.0.0.1")
    client.__enter__()
    login = client.get("/login").text
    client.post("/login", data={"name": "", "password": TOKEN, "csrf_token": csrf(login)})
    return client


def csrf(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def workspace(folder: Path, db: Path) -> Path:
    from herald.workspace import Workspace

    root = folder / "ws"
    with Workspace.init(root, database=str(db)) as ws:
        ws.segments.create(SEGMENT)
    return root


def run(root: Path, rounds: int) -> dict[str, list[tuple[float, float]]]:
    from herald import segments

    client = client_for(root)
    token = csrf(client.get("/segments").text)
    found: dict[str, list[tuple[float, float]]] = {label: [] for label in TARGETS}
    for number in range(rounds):
        wall, cpu, page = timed(
            lambda: client.post(
                "/segments/open", data={"name": SEGMENT["name"], "csrf_token": token}
            )
        )
        assert page.status_code == 200, page.text[:300]
        found["editor page"].append((wall, cpu))
        fields = [*form_of(page.text), ("action", "refresh")]
        body = urlencode(fields)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        wall, cpu, refreshed = timed(
            partial(client.post, "/segments/editor", content=body, headers=form)
        )
        assert refreshed.status_code == 200, refreshed.text[:300]
        assert "customers remaining" in refreshed.text, "the Refresh showed no waterfall"
        found["Refresh"].append((wall, cpu))
        query = {"table": "Customer_360", "column": "city", "path": "r"}
        segments._PICKLISTS = segments._Cache(256)  # cold: Herald's cache emptied
        for label in ("picklist, cold", "picklist, warm"):
            wall, cpu, values = timed(partial(client.get, "/segments/picklist", params=query))
            assert values.status_code == 200, values.text[:300]
            found[label].append((wall, cpu))
        print(
            f"round {number + 1}: "
            + ", ".join(f"{k} {v[-1][0] * 1000:.0f} ms" for k, v in found.items()),
            flush=True,
        )
    client.__exit__(None, None, None)
    return found


def report(args: argparse.Namespace, found: dict[str, list[tuple[float, float]]]) -> str:
    lines = [
        "## Web app: the Segment Editor (`bench/web.py`)",
        "",
        f"Command: `python bench/web.py` · revision {git_revision()} · {dt.date.today()}",
        f"Machine: {machine()}; shared, so the measures are interleaved round by round.",
        f"Data: the demo generator, {args.customers:,} customers (seed 7, as of {AS_OF}); the "
        "five-condition segment of `bench/segment_editor.py`; the app in this process behind "
        f"Starlette's test client, signed in as an editor; {args.rounds} rounds.",
        "",
        "| measure | wall, min / median | CPU, median | target | median ÷ target |",
        "|---|---|---|---|---|",
    ]
    verdicts = []
    for label, times in found.items():
        walls = [w for w, _ in times]
        median = statistics.median(walls)
        verdicts.append(median <= TARGETS[label])
        lines.append(
            f"| {label} | {min(walls) * 1000:.0f} / {median * 1000:.0f} ms | "
            f"{statistics.median(c for _, c in times) * 1000:.0f} ms | "
            f"{TARGETS[label] * 1000:.0f} ms | {median / TARGETS[label]:.2f}× |"
        )
    lines += [
        "",
        f"Peak RSS {peak_rss_mb():.0f} MB. Every median within its target: "
        f"**{'PASS' if all(verdicts) else 'FAIL'}**",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-report", action="store_true", help="Do not write docs/benchmarks.md.")
    args = parser.parse_args()
    db = demo_database(args.customers, AS_OF).resolve()
    with tempfile.TemporaryDirectory(prefix="herald-bench-web-") as folder:
        found = run(workspace(Path(folder), db), args.rounds)
    body = report(args, found)
    if not args.no_report:
        write_section("web", body)
    print(body)


if __name__ == "__main__":
    main()
