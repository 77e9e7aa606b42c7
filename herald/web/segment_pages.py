"""The Segment Editor: build a segment with drop-downs and picklists, Refresh its insights and
the narrowing waterfall, see its SQL, save it as a draft, activate it; its versions and trend;
the overlap of 2-4 segments.

The editor edits the same definition `herald apply` reads: the form's fields become that
mapping (`herald.web.segment_form`), checked by the library. Segment names travel in POST
bodies, never in URLs. Each button of the editor is an htmx POST of the whole form to
``/segments/editor`` that re-renders the editor's body (a full page without htmx).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from herald.core.segments import parse_segment
from herald.exceptions import HeraldError, NotFoundError
from herald.redact import redact
from herald.web.render import blocking, render, with_engine, workspace
from herald.web.segment_form import (
    apply_action,
    blank_definition,
    definition_of,
    node_at_location,
    tree_of,
)
from herald.workspace import Workspace

PICKLIST_LIMIT = 50
TREND_POINTS = 200


async def new_segment(request: Request) -> Response:
    """A blank editor."""
    return await _editor(request, blank_definition(), {})


async def open_segment(request: Request) -> Response:
    """The editor over a stored segment (its latest version), or a copy of it to duplicate."""
    form = await request.form()
    name = str(form.get("name") or "")
    ws = workspace(request)
    version = await blocking(ws.store.get, "segment", name, "latest")
    doc = {"name": version.name, **version.definition}
    if form.get("duplicate"):
        doc["name"] = f"Copy of {version.name}"
        return await _editor(
            request, doc, {"message": f"A copy of '{name}': rename it, then save."}
        )
    return await _editor(request, doc, {"stored": name})


async def editor_action(request: Request) -> Response:
    """One button of the editor: add or remove a condition or group, Refresh, SQL, save or
    activate; the re-rendered editor shows the outcome or the problem on one line."""
    form = await request.form()
    doc = definition_of(form.getlist)  # type: ignore[arg-type]
    action = str(form.get("action") or "")
    extra: dict[str, Any] = {"stored": str(form.get("stored") or "") or None}
    if action.startswith(("add:", "remove:")):
        extra["error"] = apply_action(doc, action)
    elif action:
        try:
            extra.update(await _run_action(request, action, doc))
        except HeraldError as error:
            extra["error"] = redact(str(error)).splitlines()[0]
            extra["error_location"] = getattr(error, "location", None)
            extra["error_inline"] = redact(str(getattr(error, "message", error))).splitlines()[0]
    return await _editor(request, doc, extra)


async def _run_action(request: Request, action: str, doc: dict[str, Any]) -> dict[str, Any]:
    ws = workspace(request)
    segment = parse_segment(doc)
    if action == "refresh":
        insights = await with_engine(request, ws.segments.insights_of, segment)
        steps = await with_engine(request, ws.segments.waterfall, segment)
        return {"insights": insights, "counts": {s.path: s.customers for s in steps}}
    if action == "sql":
        return {"sql": await with_engine(request, _sql_of, ws, segment)}
    if action == "check":
        await with_engine(request, ws.segments.compile, segment, bind=True)
        return {"message": "The definition is valid."}
    if action in ("save", "activate"):
        saved = await with_engine(request, ws.segments.create, segment)
        message = f"Saved draft v{saved.version.version}."
        if not saved.changed:
            message = f"No change since v{saved.version.version}."
        if action == "activate" and saved.version.status == "draft":
            active = await with_engine(request, ws.segments.activate, segment.name)
            message = f"Activated v{active.version}."
        return {"message": message, "stored": segment.name}
    return {"error": f"unknown editor action '{action}'; use the editor's buttons"}


def _sql_of(ws: Workspace, segment: Any) -> str:
    return ws.engine.render(ws.segments.compile(segment), pretty=True)


async def _editor(request: Request, doc: dict[str, Any], extra: dict[str, Any]) -> Response:
    ws = workspace(request)
    stored = extra.get("stored")
    context = {
        "doc": doc,
        "mode": "sql" if "sql" in doc else "conditions",
        "tree": tree_of(doc["where"], ws.catalog) if isinstance(doc.get("where"), dict) else None,
        "segments": [s.name for s in await blocking(ws.segments.list) if s.active_version],
        "counts": {},
        **extra,
    }
    context["error_path"] = node_at_location(context["tree"], extra.get("error_location"))
    if stored:
        context.update(await blocking(_stored_context, ws, stored))
    fragment = "hx-request" in request.headers and "hx-boosted" not in request.headers
    template = "_segment_body.html" if fragment else "segment_editor.html"
    return render(request, template, context)


def _stored_context(ws: Workspace, name: str) -> dict[str, Any]:
    """Versions (who saved and activated each) and the insights trend of a stored segment."""
    try:
        versions = ws.segments.versions(name)
        history = ws.segments.history(name, limit=TREND_POINTS)
    except NotFoundError:
        return {"stored": None}
    points = sorted(history, key=lambda r: r.computed_at)
    trend = {
        "t": [int(r.computed_at.replace(tzinfo=r.computed_at.tzinfo or dt.UTC).timestamp())
              for r in points],
        "customers": [r.metrics.get("unique_customers") for r in points],
        "reachable": [r.metrics.get("reachable_customers") for r in points],
    }  # fmt: skip
    return {"stored": name, "versions": sorted(versions, key=lambda v: -v.version), "trend": trend}


async def picklist(request: Request) -> Response:
    """A column's values, most frequent first with counts, searchable, as checkboxes for the
    condition at ``path`` (an htmx fragment)."""
    params = request.query_params
    ws = workspace(request)
    path = params.get("path", "")
    # the values ticked before a search stay ticked (they come along with it)
    picked = list(dict.fromkeys(params.getlist(f"{path}.pick")))
    context: dict[str, Any] = {"path": path, "search": params.get("search", ""), "picked": picked}
    try:
        context["picklist"] = await with_engine(
            request,
            ws.segments.picklist,
            params.get("table", ""),
            params.get("column", ""),
            search=params.get("search") or None,
            limit=PICKLIST_LIMIT,
        )
    except HeraldError as error:
        context["error"] = redact(str(error)).splitlines()[0]
    return render(request, "_segment_picklist.html", context)


async def overlap_page(request: Request) -> Response:
    """Pick 2-4 active segments; a POST shows the customers of every intersection."""
    ws = workspace(request)
    names = [s.name for s in await blocking(ws.segments.list) if s.active_version]
    context: dict[str, Any] = {"names": names, "chosen": []}
    if request.method == "POST":
        form = await request.form()
        chosen = [str(n) for n in form.getlist("segments")]
        context["chosen"] = chosen
        try:
            found = await with_engine(request, ws.segments.overlap, chosen)
            context["overlap"] = _overlap_rows(found)
        except HeraldError as error:
            context["error"] = redact(str(error)).splitlines()[0]
    return render(request, "segment_overlap.html", context)


def _overlap_rows(found: Any) -> dict[str, Any]:
    rows = [
        {"in": [n for n, flag in zip(found.names, flags, strict=True) if flag],
         "only": sum(flags) == 1, "customers": customers}
        for flags, customers in found.regions.items()
    ]  # fmt: skip
    sizes = {name: found.size(name) for name in found.names}
    return {"rows": rows, "sizes": sizes, "union": found.union, "names": found.names}


ROUTES = [
    Route("/segments/new", new_segment, methods=["GET"]),
    Route("/segments/open", open_segment, methods=["POST"]),
    Route("/segments/editor", editor_action, methods=["POST"]),
    Route("/segments/picklist", picklist, methods=["GET"]),
    Route("/segments/overlap", overlap_page, methods=["GET", "POST"]),
]
