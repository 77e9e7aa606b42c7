"""The Segment Editor's routes over a real workspace: building a definition field by field,
Refresh (insights and the waterfall), its SQL, saving and activating, versions, picklists,
overlap; bad input gets one line and saves nothing."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient
from web_app import PASSWORD, app, client, sign_in, web_root

__all__ = ["app", "client", "web_root"]  # fixtures

HX = {"HX-Request": "true"}


def gold(name: str, **extra: Any) -> dict[str, Any]:
    """The form of a segment: Customer_360.loyalty_tier in [Gold], and a nested OR group."""
    return {
        "name": name,
        "mode": "conditions",
        "r.type": "group",
        "r.kind": "all",
        "r.0.type": "attribute",
        "r.0.table": "Customer_360",
        "r.0.column": "loyalty_tier",
        "r.0.op": "in_list",
        "r.0.vtype": "string",
        "r.0.pick": "Gold",
        "r.1.type": "group",
        "r.1.kind": "any",
        "r.1.0.type": "attribute",
        "r.1.0.table": "Customer_360",
        "r.1.0.column": "state",
        "r.1.0.op": "is_exactly",
        "r.1.0.value": "CA",
        "r.1.0.vtype": "string",
        "r.1.1.type": "attribute",
        "r.1.1.table": "Customer_360",
        "r.1.1.column": "birthdate",
        "r.1.1.op": "after",
        "r.1.1.vtype": "date",
        "r.1.1.when": "ago",
        "r.1.1.n": "100",
        "r.1.1.unit": "years",
        **extra,
    }


def post(client: TestClient, csrf: str, data: dict[str, Any], action: str) -> str:
    response = client.post(
        "/segments/editor", data={**data, "action": action, "csrf_token": csrf}, headers=HX
    )
    assert response.status_code == 200, response.text
    return response.text


def test_new_editor_page_has_drop_downs_with_labels(client: TestClient) -> None:
    sign_in(client, "ed", PASSWORD)
    page = client.get("/segments/new")
    assert page.status_code == 200
    assert "Segment Editor" in page.text
    assert "Customer_360</option>" in page.text
    assert "Unified_Transactions</option>" in page.text
    assert 'for="f-r-0-table"' in page.text
    assert 'id="f-r-0-table"' in page.text
    assert "<script>" not in page.text  # the CSP allows no inline script


def test_choosing_a_column_lists_the_operators_of_its_type(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    form = {"name": "x", "r.type": "group", "r.kind": "all", "r.0.type": "attribute",
            "r.0.table": "Transaction_Attributes_Extended",
            "r.0.column": "lifetime_order_revenue"}  # fmt: skip
    html = post(client, csrf, form, "")
    assert 'value="greater_than" selected' in html
    assert "contains" not in html  # a string operator
    assert 'type="number"' in html
    form["r.0.column"] = "lifetime_order_frequency"
    form["r.0.table"] = "Customer_360"  # the column is not in the new table: chosen again
    assert '<option value="">Attribute…</option>' in post(client, csrf, form, "")


def test_add_and_remove_conditions_and_groups(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    form = gold("Adds")
    html = post(client, csrf, form, "add:r:group")
    assert 'name="r.2.type" value="group"' in html
    assert 'name="r.2.0.type"' in html
    html = post(client, csrf, form, "add:r:purchase")
    assert 'name="r.2.type" value="purchase"' in html
    assert 'value="12 months"' in html
    html = post(client, csrf, form, "add:r:segment")
    assert 'name="r.2.type" value="segment"' in html
    for stale in ("remove:r.7", "add:r.5.2:group", "remove:r.x", "add:r.0:condition"):
        assert "the editor&#39;s form is out of date" in post(client, csrf, form, stale), stale
    html = post(client, csrf, form, "remove:r.1")
    assert 'name="r.1.type"' not in html
    assert 'name="r.0.type"' in html
    purchase = {**form, "r.2.type": "purchase", "r.2.op": "has_purchased", "r.2.within": "1 year"}
    html = post(client, csrf, purchase, "add:r.2.w:condition")
    assert 'name="r.2.w.0.type"' in html
    assert "<option>Unified_Transactions</option>" in html
    assert "<option>Customer_360</option>" not in html.split('name="r.2.w.type"')[1]


def test_refresh_shows_insights_and_a_count_beside_every_condition(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    html = post(client, csrf, gold("Refreshing"), "refresh")
    assert "Customers</dt><dd>1</dd>" in html
    assert html.count('class="count"') == 4  # two conditions, the group, its two conditions
    assert "error" not in html.split("Insights")[0].split("messages")[1][:40]


def test_not_groups_segment_membership_and_purchase_behaviour(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    post(client, csrf, gold("Member base"), "activate")
    form = {
        "name": "Grammar",
        "r.type": "group",
        "r.kind": "all",
        "r.0.type": "segment",
        "r.0.op": "in",
        "r.0.segment": "Member base",
        "r.1.type": "group",
        "r.1.kind": "not",
        "r.1.0.type": "attribute",
        "r.1.0.table": "Customer_360",
        "r.1.0.column": "state",
        "r.1.0.op": "in_list",
        "r.1.0.extra": "WA, OR",
        "r.2.type": "purchase",
        "r.2.op": "has_not_purchased",
        "r.2.within": "2 years",
        "r.2.min_count": "2",
        "r.2.min_total": "50",
        "r.2.w.type": "group",
        "r.2.w.kind": "all",
        "r.2.w.0.type": "attribute",
        "r.2.w.0.table": "Unified_Transactions",
        "r.2.w.0.column": "purchase_channel",
        "r.2.w.0.op": "is_exactly",
        "r.2.w.0.value": "web",
    }
    html = post(client, csrf, form, "refresh")
    assert "editor-error" not in html
    assert html.count('class="count"') == 4  # the purchase condition's filters are one step
    assert "Customers</dt><dd>1</dd>" in html
    assert "Saved draft v1." in post(client, csrf, form, "save")
    ws = client.app.state.workspace  # type: ignore[attr-defined]
    where = ws.segments.versions("Grammar")[0].definition["where"]
    assert where["all"][1] == {"not": [{"attribute": "Customer_360.state", "op": "in_list",
                                        "values": ["WA", "OR"]}]}  # fmt: skip
    assert where["all"][2]["has_not_purchased"]["min_count"] == 2
    assert where["all"][0] == {"segment": "Member base", "op": "in"}


def test_switching_to_sql_mode_starts_from_a_query(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    html = post(client, csrf, {**gold("Switch"), "mode": "sql"}, "")
    assert "SELECT amperity_id FROM Customer_360</textarea>" in html


def test_show_sql(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    html = post(client, csrf, gold("Sql"), "sql")
    assert "The SQL it runs" in html
    assert "loyalty_tier" in html
    assert "SELECT" in html


def test_sql_mode_validates_inline(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    form = {"name": "By SQL", "mode": "sql", "sql": "SELECT amperity_id FROM Nowhere"}
    html = post(client, csrf, form, "check")
    assert 'class="error"' in html
    assert "Nowhere" in html
    good = {**form, "sql": "SELECT amperity_id FROM Customer_360 WHERE state = 'CA'"}
    assert "The definition is valid." in post(client, csrf, good, "check")
    assert "Customers</dt><dd>1</dd>" in post(client, csrf, good, "refresh")


def test_save_activate_versions_and_duplicate(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    form = gold("Saved Gold")
    assert "Saved draft v1." in post(client, csrf, form, "save")
    html = post(client, csrf, {**form, "stored": "Saved Gold"}, "activate")
    assert "Activated v1." in html
    assert "Versions of Saved Gold" in html
    assert "ed" in html.split("Versions of")[1]
    ws = client.app.state.workspace  # type: ignore[attr-defined]
    version = ws.segments.versions("Saved Gold")[0]
    assert version.status == "active"
    assert version.activated_by == "ed"
    assert version.definition["where"]["all"][0]["values"] == ["Gold"]
    ws.segments.insights("Saved Gold")
    opened = client.post("/segments/open", data={"name": "Saved Gold", "csrf_token": csrf})
    assert opened.status_code == 200
    assert "data-trend" in opened.text
    assert 'value="Gold" checked' in opened.text
    assert 'value="ago" selected' in opened.text
    copy = client.post(
        "/segments/open", data={"name": "Saved Gold", "duplicate": "1", "csrf_token": csrf}
    )
    assert 'value="Copy of Saved Gold"' in copy.text
    assert "Versions of" not in copy.text


def test_bad_input_gets_one_line_and_saves_nothing(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    ws = client.app.state.workspace  # type: ignore[attr-defined]
    cases = [
        ({**gold(""), "r.0.pick": ""}, "name"),
        ({**gold("Bad value"), "r.1.0.op": "is_exactly", "r.1.0.value": ""}, "value"),
        (gold("Bad number", **{"r.0.column": "lifetime_order_revenue"}), "lifetime_order_revenue"),
        ({"name": "Bad SQL", "mode": "sql", "sql": "DELETE FROM Customer_360"}, "DELETE"),
    ]
    for form, word in cases:
        for action in ("save", "activate", "refresh"):
            html = post(client, csrf, form, action)
            error = html.split('class="error" id="editor-error">')[1].split("</p>")[0]
            assert "\n" not in error, (action, error)
            assert word.lower() in error.lower(), (action, error)
        assert all(s.name != form["name"] for s in ws.segments.list())


def test_a_problem_shows_beside_its_condition(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    form = {**gold("Inline"), "r.1.1.when": "date", "r.1.1.value": ""}  # no date given
    html = post(client, csrf, form, "refresh")
    inline = html.split('id="f-r-1-1-error">')[1].split("</p>")[0]
    assert "birthdate" in inline or "value" in inline, inline
    assert 'id="f-r-0-error"' not in html


def test_a_viewer_cannot_save(client: TestClient) -> None:
    csrf = sign_in(client, "vera", PASSWORD)
    response = client.post(
        "/segments/editor", data={**gold("Viewer"), "action": "save", "csrf_token": csrf}
    )
    assert response.status_code == 403
    assert "Save draft" not in client.get("/segments/new").text


def test_picklist_most_frequent_first_with_counts_and_search(client: TestClient) -> None:
    sign_in(client)
    params = {"table": "Customer_360", "column": "loyalty_tier", "path": "r.0"}
    html = client.get("/segments/picklist", params=params, headers=HX).text
    assert 'name="r.0.pick" value="Gold"' in html
    assert "(1)" in html
    html = client.get("/segments/picklist", params={**params, "search": "zz"}, headers=HX).text
    assert "No values match" in html
    picked = {**params, "search": "zz", "r.0.pick": "Gold"}
    html = client.get("/segments/picklist", params=picked, headers=HX).text
    assert 'name="r.0.pick" value="Gold" checked' in html  # a tick survives a search
    html = client.get("/segments/picklist", params={**params, "column": "email"}, headers=HX).text
    assert "personal data" in html
    assert "a@example.com" not in html
    html = client.get("/segments/picklist", params={**params, "column": "nope"}, headers=HX).text
    assert "unknown column &#39;nope&#39;" in html


def test_overlap_of_two_segments(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    for name in ("Over A", "Over B"):
        post(client, csrf, gold(name), "activate")
    page = client.get("/segments/overlap")
    assert "Over A" in page.text
    html = client.post(
        "/segments/overlap", data={"segments": ["Over A", "Over B"], "csrf_token": csrf}
    ).text
    assert "Each intersection" in html
    assert "In at least one: 1" in html
    html = client.post("/segments/overlap", data={"segments": ["Over A"], "csrf_token": csrf}).text
    assert "overlap takes 2 to 4" in html


def test_a_segment_applied_from_yaml_opens_in_the_editor(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    ws = client.app.state.workspace  # type: ignore[attr-defined]
    tier = {"attribute": "loyalty_tier", "op": "is exactly", "value": "Gold"}
    born = {"attribute": "Customer_360.birthdate", "op": "before", "value": "yesterday"}
    where = {"any": [tier, born]}
    ws.segments.create({"name": "From YAML", "where": where})
    html = client.post("/segments/open", data={"name": "From YAML", "csrf_token": csrf}).text
    assert 'value="any" selected' in html
    assert 'value="is_exactly" selected' in html
    assert 'value="Gold"' in html
    assert 'value="yesterday" selected' in html
    assert "Versions of From YAML" in html
    assert "Saved by" in html


def test_opening_an_unknown_segment_is_a_404_on_one_line(client: TestClient) -> None:
    csrf = sign_in(client, "ed", PASSWORD)
    response = client.post(
        "/segments/open", data={"name": "Nowhere", "csrf_token": csrf}, headers=HX
    )
    assert response.status_code == 404
    assert "Nowhere" in response.text
    assert "\n" not in response.text.strip()
