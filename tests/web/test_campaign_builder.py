"""The Campaign builder's routes through the test client: the form is the definition `herald
apply` accepts; bad input gets one line and saves nothing; a viewer cannot save or schedule."""

from __future__ import annotations

import html
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient
from web_app import PASSWORD, app, client, sign_in, web_root

from herald.core.segments.parse import parse_segment
from herald.web import campaign_pages
from herald.workspace import Workspace

__all__ = ["app", "client", "web_root"]  # fixtures

CA = {"attribute": "Customer_360.state", "op": "is exactly", "value": "CA"}
GOLD = {"attribute": "Customer_360.loyalty_tier", "op": "is exactly", "value": "Gold"}


@pytest.fixture(scope="module", autouse=True)
def segments(web_root: Path) -> None:
    with Workspace.open(web_root) as ws:
        for name, where in [("Californians", CA), ("Gold", GOLD)]:
            ws.segments.apply(parse_segment({"name": name, "status": "active", "where": where}))
        ws.segments.insights("Californians", "active")


@pytest.fixture
def editor(client: TestClient) -> tuple[TestClient, str]:
    return client, sign_in(client, "ed", PASSWORD)


def form(title: str, **changes: Any) -> dict[str, Any]:
    """A builder form: Californians minus Gold, one sub-audience by criteria, the rest split
    90/10 with a control group."""
    data: dict[str, Any] = {
        "name": title,
        "include": ["Californians"],
        "exclude": ["Gold"],
        "first_match_only": "1",
        "subs": "1",
        "s0.name": "Card holders",
        "s0.by": "criteria",
        **criteria("s0", "state", "is_exactly", "CA"),
        "s0.groups": "1",
        "s0.g0.name": "Everyone",
        "s0.g0.percent": "100",
        "s0.g0.dest": ["files"],
        "r.groups": "2",
        "r.g0.name": "Offer",
        "r.g0.percent": "90",
        "r.g0.dest": ["files"],
        "r.g0.files.custom": "1",
        "r.g0.files.attrs": "amperity_id\nemail -> email\ngiven_name -> first_name",
        "r.g1.name": "Holdout",
        "r.g1.percent": "10",
        "r.g1.control": "1",
        "d.schedule": "once",
        "d.when": "asap",
        "d.timezone": "UTC",
        "l.mode": "after",
        "l.after_days": "2",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def criteria(
    key: str, column: str, op: str, value: str, table: str = "Customer_360"
) -> dict[str, Any]:
    """The fields of one condition in a sub-audience's condition editor, as the drop-downs
    post them."""
    path = f"{key}.r.0"
    return {f"{key}.r.type": "group", f"{key}.r.kind": "all", f"{path}.type": "attribute",
            f"{path}.table": table, f"{path}.column": column, f"{path}.op": op,
            f"{path}.value": value}  # fmt: skip


class FormReader(HTMLParser):
    """The fields the builder's form would post, as a browser fills them in."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self.inside = False
        self.select: str | None = None
        self.textarea: str | None = None
        self.option = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == "builder"
        elif self.inside and tag == "input" and a.get("type") not in ("checkbox", "radio"):
            self.add(a.get("name"), a.get("value", ""))
        elif self.inside and tag == "input" and "checked" in a:
            self.add(a.get("name"), a.get("value", "on"))
        elif self.inside and tag == "select":
            self.select = a.get("name")
        elif self.select and tag == "option" and "selected" in a:
            self.add(self.select, a.get("value", ""))
            self.option = "value" not in a  # its text is its value
        elif self.inside and tag == "textarea":
            self.textarea = a.get("name")
            self.add(self.textarea, "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        self.select = None if tag == "select" else self.select
        self.textarea = None if tag == "textarea" else self.textarea
        self.option = False if tag == "option" else self.option

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.data[self.textarea][-1] += data
        elif self.option and self.select:
            self.data[self.select][-1] += data

    def add(self, name: str | None, value: str) -> None:
        if name and name != "csrf_token":
            self.data.setdefault(name, []).append(value)


def form_of(page: str) -> dict[str, list[str]]:
    reader = FormReader()
    reader.feed(page)
    return reader.data


def post(client: TestClient, csrf: str, data: dict[str, Any], op: str) -> Any:
    return client.post("/campaigns/builder", data={**data, "op": op, "csrf_token": csrf})


def stored(web_root: Path, name: str) -> dict[str, Any] | None:
    with Workspace.open(web_root) as ws:
        if not any(s.name == name for s in ws.store.list("campaign")):
            return None
        return dict(ws.store.get("campaign", name, "latest").definition)


def test_the_builder_page_lists_active_segments_with_their_sizes(editor: Any) -> None:
    client, _ = editor
    page = client.get("/campaigns/builder")
    assert page.status_code == 200
    assert "Californians (1 customers)" in page.text
    assert '<option value="Gold"' in page.text
    assert "Edit attributes" in page.text


def test_save_stores_the_definition_herald_apply_accepts(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    response = post(client, csrf, form("Spring Sale"), "save")
    assert response.status_code == 200, response.text
    assert "Saved: version 1" in response.text
    assert "changes not saved yet" not in response.text
    assert (
        "changes not saved yet"
        in post(client, csrf, form("Spring Sale", description="new"), "refresh").text
    )
    doc = stored(web_root, "Spring Sale")
    assert doc is not None
    assert doc["exclude"] == ["Gold"]
    assert doc["sub_audiences"][0]["where"] == {
        "all": [{"attribute": "Customer_360.state", "op": "is_exactly", "value": "CA"}]
    }
    offer, holdout = doc["remaining"]["groups"]
    assert offer["destinations"][0]["attributes"][2] == {
        "source": "given_name",
        "field": "first_name",
    }
    assert holdout["control"] is True
    assert doc["launch_date"] == {"after_days": 2}
    # the stored campaign opens in the builder, with its status
    page = client.post(
        "/campaigns/builder", data={"op": "open", "name": "Spring Sale", "csrf_token": csrf}
    )
    assert "given_name -&gt; first_name</textarea>" in page.text
    assert "(draft)" in page.text
    assert 'action="/campaigns/schedule"' in page.text


def test_view_as_yaml_shows_the_definition(editor: Any) -> None:
    client, csrf = editor
    page = post(client, csrf, form("Yaml One", first_match_only=None), "yaml")
    assert "kind: campaign" in page.text
    assert "first_match_only: false" in page.text
    assert "after_days: 2" in page.text


def test_percentages_not_totalling_100_are_flagged_and_refused(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    total = client.post(
        "/campaigns/builder/total",
        data={"total_of": "r", "r.g0.percent": "80", "r.g1.percent": "10", "s0.g0.percent": "5"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert "Total: 90%, must be 100%" in total.text
    ok = client.post(
        "/campaigns/builder/total",
        data={"total_of": "r", "r.g0.percent": "90", "r.g1.percent": "10", "s0.g0.percent": "5"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
    )
    assert "Total: 100%" in ok.text
    response = post(client, csrf, form("Ninety", **{"r.g0.percent": "80"}), "save")
    assert response.status_code == 400
    assert "total 90%: make them total 100%" in response.text
    assert stored(web_root, "Ninety") is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"include": []}, "include"),
        ({"s0.r.0.column": "nope"}, "nope"),
        ({"d.when": "at", "d.at": "tomorrow"}, "delivery"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_gets_one_line_and_saves_nothing(
    editor: Any, web_root: Path, changes: dict[str, Any], expected: str
) -> None:
    client, csrf = editor
    name = changes.get("name", "Bad One")
    response = post(client, csrf, form("Bad One", **changes), "save")
    assert response.status_code == 400
    errors = response.text.split('role="alert"')[1].split("</ul>")[0]
    assert errors.count("<li>") == 1
    assert expected in errors
    assert "\n" not in errors.split("<li>")[1].split("</li>")[0]
    assert stored(web_root, name or "Bad One") is None


def test_editing_buttons_add_move_and_remove(editor: Any) -> None:
    client, csrf = editor
    page = post(client, csrf, form("Edits"), "add-sub")
    assert "Sub-audience 2" in page.text
    assert 'name="subs" value="2"' in page.text
    page = post(client, csrf, form("Edits", **{"subs": "2", "s1.name": "Second", "s1.by": "segment",
                "s1.segment": "Gold", "s1.groups": "1", "s1.g0.name": "A", "s1.g0.percent": "100"}),
                "up-sub:1")  # fmt: skip
    assert page.text.index('value="Second"') < page.text.index('value="Card holders"')
    page = post(client, csrf, form("Edits"), "add-group:r")
    assert 'name="r.groups" value="3"' in page.text
    assert "Total: 100%" in page.text
    page = post(client, csrf, form("Edits"), "remove-group:r:1")
    assert "Total: 90%, must be 100%" in page.text
    page = post(client, csrf, form("Edits"), "remove-sub:0")
    assert 'name="subs" value="0"' in page.text


def test_next_run_times_are_shown_for_a_recurring_delivery(editor: Any) -> None:
    client, csrf = editor
    weekly = {"d.schedule": "recurring", "d.cadence": "weekly", "d.time": "09:30",
              "d.weekdays": ["monday", "thursday"], "d.end_mode": "never"}  # fmt: skip
    page = post(client, csrf, form("Weekly", **weekly), "refresh")
    runs = page.text.split("Next run times")[1].split("</ul>")[0]
    assert runs.count("09:30") == 5


def test_preview_estimate_test_run_and_schedule(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    assert post(client, csrf, form("Flow"), "save").status_code == 200
    preview = post(client, csrf, form("Flow"), "preview")
    assert "Recipients per sub-audience and group" in preview.text
    assert "Holdout (control)" in preview.text
    assert "Time to send if every record were new" not in preview.text  # local files only
    estimate = post(client, csrf, form("Flow"), "estimate")
    assert "By API: about" in estimate.text
    assert "SFTP" in estimate.text
    sample = post(client, csrf, form("Flow"), "sample")
    keys = [part.split('"')[0] for part in sample.text.split('name="sample" value="')[1:]]
    assert len(keys) == 2  # one file per group and destination; the control group sends none
    download = client.post("/campaigns/sample", data={"sample": keys[0], "csrf_token": csrf})
    assert download.status_code == 200
    assert "amperity_id" in download.text
    assert (
        client.post("/campaigns/sample", data={"sample": "made-up", "csrf_token": csrf}).status_code
        == 404
    )
    scheduled = client.post("/campaigns/schedule", data={"name": "Flow", "csrf_token": csrf})
    assert "Scheduled; next runs" in scheduled.text
    assert "(scheduled)" in scheduled.text
    assert "Unschedule" in scheduled.text
    again = post(client, csrf, form("Flow", description="changed"), "save")
    assert again.status_code == 400
    assert "unschedule it" in again.text
    back = client.post("/campaigns/unschedule", data={"name": "Flow", "csrf_token": csrf})
    assert "(draft)" in back.text


def test_a_viewer_cannot_save_or_schedule(client: TestClient, web_root: Path) -> None:
    csrf = sign_in(client, "vera", PASSWORD)
    page = client.get("/campaigns/builder")
    assert page.status_code == 200
    assert "need an editor" in page.text
    assert 'action="/campaigns/schedule"' not in page.text
    response = post(client, csrf, form("Viewer's"), "save")
    assert response.status_code == 403
    assert stored(web_root, "Viewer's") is None
    refused = client.post("/campaigns/schedule", data={"name": "Spring Sale", "csrf_token": csrf})
    assert refused.status_code == 403


def test_the_naming_advice_shows_as_warnings_before_saving(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    page = post(client, csrf, form("Spring Sale Two", **{"r.g0.name": "Spring Offer"}), "refresh")
    advice = page.text.split("<h2>Advice</h2>")[1].split("</ul>")[0]
    assert "Spring" in advice
    assert stored(web_root, "Spring Sale Two") is None


def test_a_campaign_applied_from_yaml_opens_in_the_builder(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    text = """
kind: campaign
name: From Yaml
include: [Californians]
sub_audiences:
  - {name: Gold ones, segment: Gold, groups: [{name: A, percent: 100, destinations: [files]}]}
remaining:
  groups: [{name: Rest, percent: 100, destinations: [files]}]
delivery: {schedule: recurring, cadence: monthly, day: 15, time: "08:00", timezone: Europe/Paris}
launch_date: 2027-01-02
"""
    with Workspace.open(web_root) as ws:
        ws.campaigns.apply(yaml.safe_load(text), source="from-yaml.yaml")
    page = client.post(
        "/campaigns/builder", data={"op": "open", "name": "From Yaml", "csrf_token": csrf}
    )
    assert '<option value="Gold" selected>Gold</option>' in page.text
    assert 'name="d.day" min="1" max="31" value="15"' in page.text
    assert 'value="Europe/Paris"' in page.text
    assert 'value="2027-01-02"' in page.text
    # saved back unchanged from the builder's form: the same definition, no new version
    again = post(client, csrf, form_of(page.text), "save")
    assert "(unchanged)" in again.text


@pytest.mark.parametrize(
    ("delivery", "expected"),
    [
        ({"d.cadence": "cron", "d.cron": "0 6 * * 1-5"}, "06:00"),
        (
            {
                "d.cadence": "monthly",
                "d.day": "31",
                "d.time": "07:15",
                "d.end_mode": "after",
                "d.end_after": "3",
            },
            "07:15",
        ),
        ({"d.cadence": "daily", "d.time": "23:05", "d.timezone": "America/New_York"}, ":05"),
        ({"d.schedule": "once", "d.when": "at", "d.at": "2099-03-04T05:06"}, "2099-03-04 05:06"),
    ],
)
def test_deliveries_show_their_next_runs(
    editor: Any, delivery: dict[str, str], expected: str
) -> None:
    client, csrf = editor
    page = post(client, csrf, form("Cadence", **{"d.schedule": "recurring", **delivery}), "yaml")
    runs = page.text.split("Next run times")[1].split("</ul>")[0]
    if delivery.get("d.schedule") == "once":
        assert "2099-03-04 05:06" in page.text.split("<pre")[1]
        assert runs.count("<li>") == 1
    else:
        assert "schedule: recurring" in page.text
        assert runs.count(expected) >= 3
    assert expected in runs


def sample_keys(page: str) -> list[str]:
    return [part.split('"')[0] for part in page.split('name="sample" value="')[1:]]


def test_older_test_runs_files_are_removed(
    editor: Any, web_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(campaign_pages, "TEST_RUNS_KEPT", 1)
    client, csrf = editor
    assert post(client, csrf, form("Twice"), "save").status_code == 200
    folders = web_root / ".herald" / "tests"
    before = len(list(folders.glob("web-*")))
    first = sample_keys(post(client, csrf, form("Twice"), "sample").text)
    second = sample_keys(post(client, csrf, form("Twice"), "sample").text)
    gone = client.post("/campaigns/sample", data={"sample": first[0], "csrf_token": csrf})
    assert gone.status_code == 404
    assert "make a test run again" in gone.text
    kept = client.post("/campaigns/sample", data={"sample": second[0], "csrf_token": csrf})
    assert kept.status_code == 200
    assert len(list(folders.glob("web-*"))) == before + 1  # the first one's folder is gone


# --- a sub-audience's criteria: the Segment Editor's condition editor -----------------------


def condition_fields(page: str, path: str) -> dict[str, list[str]]:
    """The fields of the condition editor's node at ``path`` the page would post."""
    return {k: v for k, v in form_of(page).items() if k.startswith(f"{path}.")}


def test_criteria_are_built_with_the_condition_editor_s_fields(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    fields = {"s0.r.kind": "any", "s0.r.1.type": "attribute", "s0.r.1.table": "Customer_360",
              "s0.r.1.column": "loyalty_tier", "s0.r.1.op": "in_list", "s0.r.1.vtype": "string",
              "s0.r.1.pick": ["Gold"], "s0.r.1.extra": "Silver, Gold"}  # fmt: skip
    page = post(client, csrf, form("By Fields", **fields), "yaml")
    yaml_text = page.text.split('<pre class="yaml"')[1].split(">", 1)[1].split("</pre>")[0]
    shown = yaml.safe_load(html.unescape(yaml_text))
    where = {"any": [
        {"attribute": "Customer_360.state", "op": "is_exactly", "value": "CA"},
        {"attribute": "Customer_360.loyalty_tier", "op": "in_list", "values": ["Gold", "Silver"]},
    ]}  # fmt: skip
    assert shown["sub_audiences"][0]["where"] == where
    assert post(client, csrf, form("By Fields", **fields), "save").status_code == 200
    doc = stored(web_root, "By Fields")
    assert doc is not None
    assert doc["sub_audiences"][0]["where"] == where
    # the saved campaign opens with the drop-downs chosen and the values ticked
    page = client.post(
        "/campaigns/builder", data={"op": "open", "name": "By Fields", "csrf_token": csrf}
    )
    chosen = condition_fields(page.text, "s0.r.1")
    assert chosen["s0.r.1.column"] == ["loyalty_tier"]
    assert chosen["s0.r.1.op"] == ["in_list"]
    assert chosen["s0.r.1.values"] == ["Gold", "Silver"]
    assert form_of(page.text)["s0.r.kind"] == ["any"]


def test_a_campaign_with_criteria_applied_from_yaml_round_trips(
    editor: Any, web_root: Path
) -> None:
    client, csrf = editor
    text = """
kind: campaign
name: Criteria Yaml
include: [Californians]
sub_audiences:
  - name: Gold ones
    where: {attribute: loyalty_tier, op: is exactly, value: Gold}
    groups: [{name: A, percent: 100, destinations: [files]}]
  - name: Buyers
    where:
      - {attribute: Customer_360.birthdate, op: before, value: 30 years ago}
      - any:
          - {segment: Gold, op: not_in}
          - has_purchased:
              within: 6 months
              min_count: 2
              where: [{attribute: Unified_Itemized_Transactions.is_return, op: is false}]
          - not: {attribute: state, op: is exactly, value: NY}
    groups: [{name: B, percent: 100, destinations: [files]}]
remaining:
  groups: [{name: Rest, percent: 100, destinations: [files]}]
delivery: {schedule: once, timezone: UTC, at: asap}
"""
    with Workspace.open(web_root) as ws:
        ws.campaigns.apply(yaml.safe_load(text), source="criteria.yaml")
    page = client.post(
        "/campaigns/builder", data={"op": "open", "name": "Criteria Yaml", "csrf_token": csrf}
    )
    fields = form_of(page.text)
    # a bare condition and a list show under a root group, with the drop-downs chosen
    assert fields["s0.r.kind"] == ["all"]
    assert (fields["s0.r.0.table"], fields["s0.r.0.column"]) == (["Customer_360"], ["loyalty_tier"])
    assert (fields["s0.r.0.op"], fields["s0.r.0.value"]) == (["is_exactly"], ["Gold"])
    assert fields["s1.r.0.when"] == ["ago"]
    assert (fields["s1.r.0.n"], fields["s1.r.0.unit"]) == (["30"], ["years"])
    assert fields["s1.r.1.kind"] == ["any"]
    assert (fields["s1.r.1.0.segment"], fields["s1.r.1.0.op"]) == (["Gold"], ["not_in"])
    assert fields["s1.r.1.1.within"] == ["6 months"]
    assert fields["s1.r.1.1.w.0.column"] == ["is_return"]
    assert (fields["s1.r.1.2.kind"], fields["s1.r.1.2.0.value"]) == (["not"], ["NY"])
    # saved back unchanged from the builder's form: the same definition, no new version
    before = stored(web_root, "Criteria Yaml")
    again = post(client, csrf, fields, "save")
    assert "(unchanged)" in again.text, again.text
    assert stored(web_root, "Criteria Yaml") == before
    # a button works on criteria YAML wrote in short forms (a "not" of one condition)
    added = post(client, csrf, {**fields, "action": "add:s1.r.1.2:condition"}, "")
    assert form_of(added.text)["s1.r.1.2.1.type"] == ["attribute"]
    # a change in the fields is saved as the fields say
    changed = post(client, csrf, {**fields, "s0.r.0.value": "Silver"}, "save")
    assert "Saved: version 2" in changed.text
    doc = stored(web_root, "Criteria Yaml")
    assert doc is not None
    assert doc["sub_audiences"][0]["where"] == {
        "all": [{"attribute": "Customer_360.loyalty_tier", "op": "is_exactly", "value": "Silver"}]
    }
    assert doc["sub_audiences"][1] == before["sub_audiences"][1]  # type: ignore[index]


def test_add_and_remove_in_the_criteria_keep_the_rest_of_the_form(editor: Any) -> None:
    client, csrf = editor
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    data = form("Add Remove", description="kept")
    page = client.post(
        "/campaigns/builder", data={**data, "action": "add:s0.r:group"}, headers=htmx
    )
    fields = form_of(page.text)
    assert fields["s0.r.1.type"] == ["group"]
    assert fields["s0.r.1.0.type"] == ["attribute"]
    assert fields["s0.r.0.value"] == ["CA"]
    assert (fields["description"], fields["r.g1.name"]) == (["kept"], ["Holdout"])
    page = client.post(
        "/campaigns/builder", data={**fields, "action": "add:s0.r.1:purchase"}, headers=htmx
    )
    assert form_of(page.text)["s0.r.1.1.within"] == ["12 months"]
    page = client.post(
        "/campaigns/builder", data={**form_of(page.text), "action": "remove:s0.r.0"}, headers=htmx
    )
    fields = form_of(page.text)
    assert fields["s0.r.0.type"] == ["group"]
    assert "s0.r.1.type" not in fields
    assert fields["l.after_days"] == ["2"]
    # a drop-down change (no button) redraws with the column's operators
    fields.update({"s0.r.0.0.column": "birthdate"})
    page = client.post("/campaigns/builder", data=fields, headers=htmx)
    assert (
        'value="after" selected' in page.text.split('name="s0.r.0.0.op"')[1].split("</select>")[0]
    )
    stale = client.post(
        "/campaigns/builder", data={**fields, "action": "remove:s5.r.0"}, headers=htmx
    )
    assert "the builder&#39;s form is out of date" in stale.text
    for action in ["add:s0.x:condition", "remove:s0.r.7"]:  # not in the tree of s0's criteria
        stale = client.post("/campaigns/builder", data={**fields, "action": action}, headers=htmx)
        assert f"the editor&#39;s form is out of date ({action})" in stale.text
        assert form_of(stale.text)["s0.r.0.0.column"] == ["birthdate"]


def test_a_sub_audience_switched_to_criteria_gets_a_blank_condition(editor: Any) -> None:
    client, csrf = editor
    data = form("Switch", **{"s0.by": "segment", "s0.segment": "Gold"})
    data = {k: v for k, v in data.items() if not k.startswith("s0.r")}
    page = post(client, csrf, data, "refresh")
    assert "s0.r.type" not in page.text
    page = post(client, csrf, {**data, "s0.by": "criteria"}, "refresh")
    fields = form_of(page.text)
    assert fields["s0.r.0.table"] == ["Customer_360"]
    assert 'name="s0.r.0.column"' in page.text
    assert "s0.r.0.column" not in fields  # no attribute chosen yet


@pytest.mark.parametrize(
    ("changes", "path", "expected"),
    [
        ({"s0.r.0.column": "nope"}, "s0.r.0", "unknown column &#39;nope&#39;"),
        ({"s0.r.0.column": "birthdate", "s0.r.0.op": "after", "s0.r.0.when": "date",
          "s0.r.0.value": "someday"}, "s0.r.0", "&#39;someday&#39; is not a date"),
        ({"subs": "2", "s1.name": "Second", "s1.by": "criteria", "s1.r.type": "group",
          "s1.r.kind": "all", "s1.r.0.type": "segment", "s1.r.0.segment": "", "s1.groups": "1",
          "s1.g0.name": "A", "s1.g0.percent": "100"}, "s1.r.0", "segment"),
    ],
)  # fmt: skip
def test_a_criteria_error_shows_on_one_line_beside_its_condition(
    editor: Any, web_root: Path, changes: dict[str, Any], path: str, expected: str
) -> None:
    client, csrf = editor
    response = post(client, csrf, form("Bad Criteria", **changes), "save")
    assert response.status_code == 400
    errors = response.text.split('role="alert"')[1].split("</ul>")[0]
    assert errors.count("<li>") == 1
    assert expected in errors
    inline = response.text.split(f'id="f-{path.replace(".", "-")}-error">')[1].split("</p>")[0]
    assert expected in inline
    assert "\n" not in inline
    assert "sub_audiences[" not in inline  # the place is where it shows
    assert stored(web_root, "Bad Criteria") is None


def test_the_picklist_works_for_a_condition_of_the_criteria(editor: Any, web_root: Path) -> None:
    client, csrf = editor
    params = {"table": "Customer_360", "column": "loyalty_tier", "path": "s0.r.0"}
    found = client.get("/segments/picklist", params=params)
    assert found.status_code == 200
    assert 'name="s0.r.0.pick" value="Gold"' in found.text
    picked = {"s0.r.0.column": "loyalty_tier", "s0.r.0.op": "in_list", "s0.r.0.value": None,
              "s0.r.0.pick": ["Gold"]}  # fmt: skip
    assert post(client, csrf, form("Picked", **picked), "save").status_code == 200
    doc = stored(web_root, "Picked")
    assert doc is not None
    assert doc["sub_audiences"][0]["where"]["all"][0]["values"] == ["Gold"]
