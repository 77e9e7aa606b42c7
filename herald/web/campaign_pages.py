"""The Campaign builder: one form over the campaign definition ``herald apply`` accepts, with
Save, View as YAML, Preview, Estimate, Test run, Schedule and Unschedule.

Every button posts the whole form: the page is drawn again from the definition the form holds
(`herald.web.campaign_form`), so nothing needs a script. A campaign's name travels in POST
bodies only; sample files are served by an opaque id.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from herald.campaigns import campaign_to_dict, first_slots
from herald.core.results.query import DEFAULT_WINDOW_DAYS
from herald.exceptions import HeraldError, NotFoundError
from herald.redact import redact
from herald.runs.estimate import estimate_campaign
from herald.runs.preview import first_load, preview_campaign, sample_campaign
from herald.web import campaign_form as form_
from herald.web.campaign_view import view_of
from herald.web.render import blocking, no_scheduler, render, with_engine, workspace
from herald.workspace import Workspace

SAMPLE_RECORDS = 10
TEST_RUNS_KEPT = 10
"""The web's test runs whose files stay downloadable; older folders are removed (they hold
emails), and `herald runs prune` removes the rest in time, as for ``herald campaign test``."""
KIND = "campaign"


async def builder(request: Request) -> Response:
    """A new campaign in the builder."""
    return await _page(request, form_.new_doc())


async def builder_post(request: Request) -> Response:
    """Every button of the builder: ``op`` names it; the form is the definition."""
    form = await request.form()
    op = str(form.get("op") or "")
    if op == "open":
        return await _open(request, str(form.get("name") or ""))
    # the catalog is read from the engine on first use
    doc = await with_engine(request, lambda: form_.doc_of_form(form, workspace(request).catalog))
    actions = {"save": _save, "preview": _preview, "estimate": _estimate, "sample": _sample}
    if op in actions:
        return await actions[op](request, doc)
    if op == "yaml":
        return await _page(request, doc, yaml_text=_yaml(doc))
    if action := str(form.get("action") or ""):  # a button of a sub-audience's criteria
        problem = form_.edit_criteria(doc, action)
        return await _page(request, doc, errors=[problem] if problem else [])
    return await _page(request, form_.edit(doc, op))


async def total(request: Request) -> Response:
    """The live total of one sub-audience's percentages (htmx, on every input)."""
    form = await request.form()
    # htmx posts the whole form: only the groups of the sub-audience named by total_of count
    prefix = f"{form.get('total_of') or ''}.g"
    values = [form[k] for k in form if k.startswith(prefix) and k.endswith(".percent")]
    return render(request, "_campaign_total.html", {"total": form_.percent_total(values)})


async def schedule(request: Request) -> Response:
    """Schedule the saved campaign: as soon as possible or per its delivery."""
    name = str((await request.form()).get("name") or "")
    ws = workspace(request)
    try:
        done = await with_engine(request, ws.campaigns.schedule, name)
    except HeraldError as error:
        return await _stored(request, name, errors=[redact(str(error))], status=400)
    slots = ", ".join(f"{s:%Y-%m-%d %H:%M} UTC" for s in done.next_runs[:3])
    notice = f"Scheduled; next runs: {slots}."
    if idle := await no_scheduler(request):
        notice += f" {idle}"
    return await _stored(request, name, notice=notice)


async def unschedule(request: Request) -> Response:
    """Make a scheduled campaign a draft again."""
    name = str((await request.form()).get("name") or "")
    try:
        await blocking(workspace(request).campaigns.unschedule, name)
    except HeraldError as error:
        return await _stored(request, name, errors=[redact(str(error))], status=400)
    return await _stored(request, name, notice="Unscheduled: the campaign is a draft again.")


async def sample_file(request: Request) -> Response:
    """A test run's sample file, by the opaque id the test run gave it."""
    key = str((await request.form()).get("sample") or "")
    path = _samples(request).get(key)
    if path is None or not path.is_file():
        msg = "that sample file is gone: make a test run again"
        raise NotFoundError(msg)
    return FileResponse(path, filename=path.name, media_type="application/octet-stream")


# --- the buttons ----------------------------------------------------------------------------


async def _open(request: Request, name: str) -> Response:
    return await _stored(request, name)


async def _stored(request: Request, name: str, *, status: int = 200, **extra: Any) -> Response:
    ws = workspace(request)
    version = await blocking(ws.store.get, KIND, name, "latest")
    return await _page(request, dict(version.definition), status=status, **extra)


async def _save(request: Request, doc: dict[str, Any]) -> Response:
    problems = form_.total_problems(doc)
    if problems:
        return await _page(request, doc, errors=problems, status=400)
    ws = workspace(request)
    try:
        result, warnings = await with_engine(request, ws.campaigns.apply, doc, source="builder")
    except HeraldError as error:
        return await _page(request, doc, status=400, **form_.problem_of(error))
    notice = f"Saved: version {result.version.version} ({result.action})."
    return await _page(request, doc, notice=notice, warnings=[str(w) for w in warnings])


async def _preview(request: Request, doc: dict[str, Any]) -> Response:
    ws = workspace(request)
    try:
        result = await with_engine(request, preview_campaign, ws, doc.get("name", ""))
        loads = await blocking(first_load, ws, result)
    except HeraldError as error:
        return await _page(request, doc, errors=[redact(str(error))], status=400)
    timed = [f for f in loads if f.seconds is not None]
    return await _page(
        request, doc, preview=result, first_load=timed, window_days=DEFAULT_WINDOW_DAYS
    )


async def _estimate(request: Request, doc: dict[str, Any]) -> Response:
    ws = workspace(request)
    try:
        found = await with_engine(request, estimate_campaign, ws, doc.get("name", ""))
    except HeraldError as error:
        return await _page(request, doc, errors=[redact(str(error))], status=400)
    return await _page(request, doc, estimate=found)


async def _sample(request: Request, doc: dict[str, Any]) -> Response:
    ws = workspace(request)
    key = secrets.token_urlsafe(16)
    out = ws.state_dir / "tests" / f"web-{key}"
    try:
        result = await with_engine(
            request, sample_campaign, ws, doc.get("name", ""), SAMPLE_RECORDS, out
        )
    except HeraldError as error:
        await blocking(shutil.rmtree, out, True)
        return await _page(request, doc, errors=[redact(str(error))], status=400)
    files = []
    for delivery in result.deliveries:
        if delivery.path is not None:
            file_key = secrets.token_urlsafe(16)
            _samples(request)[file_key] = delivery.path
            files.append({"key": file_key, "delivery": delivery, "name": delivery.path.name})
    await blocking(_forget_old, request, out)
    return await _page(request, doc, sample=result, sample_files=files)


def _samples(request: Request) -> dict[str, Path]:
    """Sample files by their opaque id (the id is all a download names)."""
    found: dict[str, Path] | None = getattr(request.app.state, "campaign_samples", None)
    if found is None:
        found = {}
        request.app.state.campaign_samples = found
    return found


def _forget_old(request: Request, newest: Path) -> None:
    """Keep the newest `TEST_RUNS_KEPT` test runs' folders; remove the others and their ids."""
    folders: list[Path] = getattr(request.app.state, "campaign_test_runs", [])
    folders.append(newest)
    request.app.state.campaign_test_runs = folders[-TEST_RUNS_KEPT:]
    for old in folders[:-TEST_RUNS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
        samples = _samples(request)
        for key in [k for k, path in samples.items() if path.parent == old]:
            del samples[key]


def _yaml(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# --- the page -------------------------------------------------------------------------------


async def _page(
    request: Request, doc: dict[str, Any], *, status: int = 200, **extra: Any
) -> Response:
    ws = workspace(request)
    facts = await with_engine(request, _facts, ws, doc)
    view = view_of(doc, facts["kinds"], ws.catalog, extra.get("error_location"))
    context = {"doc": doc, "view": view, **facts, **extra}
    context["warnings"] = extra.get("warnings") or facts["advice"]
    return render(request, "campaign_builder.html", context, status=status)


def _facts(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    """What the page shows beside the form: segments with sizes, destinations, the status,
    the next run times and the naming advice."""
    name = str(doc.get("name") or "")
    return {
        "segments": _segments(ws),
        "kinds": ws.campaigns.destinations(),
        "status": _status(ws, name),
        "unsaved": _unsaved(ws, doc),
        "default_table": ws.settings.database.attributes_table,
        **_checked(ws, doc),
    }


def _segments(ws: Workspace) -> list[dict[str, Any]]:
    found = []
    for item in ws.segments.list():
        if item.active_version is None:
            continue
        history = ws.store.insights_history(item.name, limit=1)
        size = history[-1].metrics.get("unique_customers") if history else None
        found.append({"name": item.name, "size": size})
    return found


def _status(ws: Workspace, name: str) -> str | None:
    if not name or not any(s.name == name for s in ws.store.list(KIND)):
        return None
    return ws.store.settle_campaign(name).status


def _unsaved(ws: Workspace, doc: dict[str, Any]) -> bool:
    """Whether the form differs from the stored campaign of that name (or there is none)."""
    if _status(ws, str(doc.get("name") or "")) is None:
        return True
    stored = ws.store.get(KIND, str(doc["name"]), "latest").definition
    return bool(campaign_to_dict(doc) != stored)


def _checked(ws: Workspace, doc: dict[str, Any]) -> dict[str, Any]:
    """The next run times and the advice, when the definition parses; else neither."""
    try:
        campaign = ws.campaigns.parse(doc)
    except HeraldError:
        return {"slots": [], "advice": []}
    now = dt.datetime.now(dt.UTC)
    try:
        advice = [str(w) for w in ws.campaigns.validate(campaign)]
    except HeraldError:
        advice = []
    return {"slots": first_slots(campaign, now), "advice": advice}


ROUTES = [
    Route("/campaigns/builder", builder, methods=["GET"]),
    Route("/campaigns/builder", builder_post, methods=["POST"]),
    Route("/campaigns/builder/total", total, methods=["POST"]),
    Route("/campaigns/schedule", schedule, methods=["POST"]),
    Route("/campaigns/unschedule", unschedule, methods=["POST"]),
    Route("/campaigns/sample", sample_file, methods=["POST"]),
]
