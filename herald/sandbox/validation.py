"""Request validation against the spec subset: bodies with compiled JSON Schema, query strings.

A general OpenAPI validator takes about 0.6 s for one 10,000-profile bulk import body, so each
body schema is converted from OpenAPI's dialect to JSON Schema and compiled once with
fastjsonschema. Even compiled, that is 20 ms a body, so the profiles array is checked in batch
(``batch.py``) and the rest of the body by the compiled validator; whenever the batch check is
not sure, the compiled validator checks the whole body and words the error, as it always did.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import fastjsonschema

from herald.sandbox.batch import Check, compile_batch
from herald.sandbox.errors import ApiError
from herald.sandbox.spec import Operation, operations

#: OpenAPI keywords that JSON Schema does not have, or that do not constrain a request.
_DROP = frozenset(
    {
        "nullable",
        "readOnly",
        "writeOnly",
        "discriminator",
        "xml",
        "deprecated",
        "externalDocs",
        "example",
        "description",
    }
)
#: Keywords whose value maps names (not keywords) to schemas.
_NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "definitions"})
#: Keywords whose value is data, not a schema.
_VALUES = frozenset({"enum", "const", "default", "required"})


def to_json_schema(node: Any) -> Any:
    """Convert an OpenAPI 3.0 schema to JSON Schema (draft 7).

    ``nullable: true`` becomes a ``null`` alternative. Formats other than ``date-time`` are
    dropped: OpenAPI treats unknown formats as annotations, and Klaviyo reports bad emails in a
    bulk job as per-profile import errors rather than a schema failure.

    Only keywords are dropped: a property named ``description`` (catalog items, coupons and
    templates have one) keeps its schema, and ``enum`` or ``default`` values stay as written.

    >>> to_json_schema({"type": "string", "nullable": True, "format": "email"})
    {'type': ['string', 'null']}
    >>> to_json_schema({"properties": {"description": {"type": "string", "example": "x"}}})
    {'properties': {'description': {'type': 'string'}}}
    """
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP:
            continue
        if key in _NAMED_SCHEMAS and isinstance(value, dict):
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _VALUES:
            out[key] = value
        else:
            out[key] = to_json_schema(value)
    if out.get("format") not in (None, "date-time"):
        del out["format"]
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


@cache
def body_validator(operation_id: str) -> Callable[[Any], Any]:
    """The compiled validator for an operation's request body (compiled on first use)."""
    op = operations()[operation_id]
    assert op.request_body is not None, operation_id
    return fastjsonschema.compile(to_json_schema(op.request_body["schema"]))


#: Operations whose body carries one large array, and the path to it: the array's items are
#: checked in batch.
BATCHED: dict[str, tuple[str, ...]] = {
    "bulk_import_profiles": ("data", "attributes", "profiles", "data"),
}
#: What a schema on the path to a batched array may use: the array is swapped for an empty one
#: and the rest validated as usual, which is sound only if nothing else looks at the array.
_PATH_KEYWORDS = frozenset({"type", "properties", "required"})


@cache
def batch_plan(operation_id: str) -> tuple[tuple[str, ...], Check] | None:
    """The path to the operation's large array and the batch check of its items, if any."""
    path = BATCHED.get(operation_id)
    op = operations()[operation_id]
    if path is None or op.request_body is None:
        return None
    node = to_json_schema(op.request_body["schema"])
    if '"default"' in json.dumps(node):
        return None  # the compiled validator writes defaults into the body: keep it whole
    for key in path:
        if not node.keys() <= _PATH_KEYWORDS or node.get("type") != "object":
            return None
        node = node.get("properties", {}).get(key)
        if not isinstance(node, dict):
            return None
    if node.keys() != {"type", "items"} or node["type"] != "array":
        return None
    check = compile_batch(node["items"])
    return None if check is None else (path, check)


def validate_body(op: Operation, body: Any) -> None:
    """Check a parsed body against the operation's schema.

    Raises:
        ApiError: 400 ``invalid`` with ``source.pointer`` at the first offending member.
    """
    if batch_valid(op.operation_id, body):
        return
    try:
        body_validator(op.operation_id)(body)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _schema_error(exc) from None


def batch_valid(operation_id: str, body: Any) -> bool:
    """Whether the body is surely valid: its large array by batch check, the rest compiled.

    False means "not sure": the caller validates the whole body the usual way.
    """
    plan = batch_plan(operation_id)
    if plan is None:
        return False
    path, check = plan
    stripped, items = _without_array(body, path)
    if items is None or not check(items):
        return False
    try:
        body_validator(operation_id)(stripped)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def _without_array(node: Any, path: tuple[str, ...]) -> tuple[Any, list[Any] | None]:
    """A copy of ``node`` with the list at ``path`` emptied, and that list (None if absent)."""
    if not path:
        return ([], node) if type(node) is list else (None, None)
    if type(node) is not dict or path[0] not in node:
        return None, None
    inner, items = _without_array(node[path[0]], path[1:])
    if items is None:
        return None, None
    return {**node, path[0]: inner}, items


def _schema_error(exc: fastjsonschema.JsonSchemaValueException) -> ApiError:
    path = [str(p) for p in (exc.path or [])[1:]]
    detail = exc.message.replace("data.", "", 1) if exc.message.startswith("data.") else exc.message
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [k for k in exc.rule_definition or [] if k not in exc.value]
        if missing:
            path.append(missing[0])
            detail = f"'{missing[0]}' is a required field."
    pointer = "/" + "/".join(path) if path else "/"
    # fastjsonschema's messages name the path and the rule, never the offending value.
    return ApiError(400, "invalid", detail, pointer=pointer)


# --- query strings ------------------------------------------------------------------------


def parse_query(op: Operation, query: Mapping[str, str], keys: list[str]) -> dict[str, Any]:
    """Parse and check an operation's query parameters.

    Args:
        op: the operation.
        query: the query parameters (last value wins).
        keys: every parameter name as sent, to catch repeats.

    Returns:
        Values by name: arrays split on commas, ``page[size]`` as int, others as str.

    Raises:
        ApiError: 400 with ``source.parameter`` for an unknown, repeated or invalid parameter.
    """
    parsed: dict[str, Any] = {}
    for name in query:
        param = op.parameters.get(name)
        if param is None or param["in"] != "query":
            msg = f"'{name}' is not a valid query parameter for this endpoint."
            raise ApiError(400, "invalid", msg, parameter=name)
        if keys.count(name) > 1:
            raise ApiError(400, "invalid", f"'{name}' may be given only once.", parameter=name)
        parsed[name] = _parse_value(name, query[name], param["schema"])
    return parsed


def _parse_value(name: str, raw: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "array":
        items = raw.split(",")
        allowed = schema.get("items", {}).get("enum")
        for item in items:
            if allowed is not None and item not in allowed:
                msg = f"'{item}' is not an allowed value for '{name}'."
                raise ApiError(400, "invalid", msg, parameter=name)
        return items
    if kind == "integer":
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(
                400, "invalid", f"'{name}' must be an integer.", parameter=name
            ) from None
        low, high = schema.get("minimum"), schema.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            msg = f"'{name}' must be between {low} and {high}."
            raise ApiError(400, "invalid", msg, parameter=name)
        return value
    if "enum" in schema and raw not in schema["enum"]:
        raise ApiError(
            400, "invalid", f"'{raw}' is not a valid value for '{name}'.", parameter=name
        )
    return raw
