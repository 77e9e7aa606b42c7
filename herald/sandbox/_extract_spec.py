"""Regenerate ``spec_subset.json`` from Klaviyo's full OpenAPI spec.

The sandbox must work from a clean install, without the 3 MB spec. This script keeps only the
operations Herald uses, resolves their ``$ref``s, drops prose (``description``, ``example``) and
lifts the limits Klaviyo states only in prose (profiles per request, payload size, stricter limits
for some query parameters, allowed filters) into structured fields.

Usage::

    python -m herald.sandbox._extract_spec [path/to/stable.json]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

SUBSET_PATH = Path(__file__).with_name("spec_subset.json")
# ../shared/klaviyo/stable.json beside the repo, unless HERALD_KLAVIYO_SPEC says otherwise.
DEFAULT_SPEC = Path(
    os.environ.get(
        "HERALD_KLAVIYO_SPEC",
        Path(__file__).resolve().parents[3] / "shared" / "klaviyo" / "stable.json",
    )
)

#: (method, path) of every operation the sandbox serves.
OPERATIONS: tuple[tuple[str, str], ...] = (
    ("get", "/api/lists"),
    ("post", "/api/lists"),
    ("get", "/api/lists/{id}"),
    ("patch", "/api/lists/{id}"),
    ("delete", "/api/lists/{id}"),
    ("get", "/api/lists/{id}/profiles"),
    ("get", "/api/lists/{id}/relationships/profiles"),
    ("post", "/api/lists/{id}/relationships/profiles"),
    ("delete", "/api/lists/{id}/relationships/profiles"),
    ("get", "/api/profile-bulk-import-jobs"),
    ("post", "/api/profile-bulk-import-jobs"),
    ("get", "/api/profile-bulk-import-jobs/{job_id}"),
    ("get", "/api/profile-bulk-import-jobs/{id}/import-errors"),
    ("get", "/api/profile-bulk-import-jobs/{id}/profiles"),
    ("get", "/api/profile-bulk-import-jobs/{id}/relationships/profiles"),
    ("get", "/api/profile-bulk-import-jobs/{id}/lists"),
    ("get", "/api/profiles"),
    ("post", "/api/profiles"),
    ("patch", "/api/profiles/{id}"),
    ("post", "/api/profile-import"),
)

_PROSE_KEYS = frozenset({"description", "example", "examples", "summary"})
_UNITS = {"KB": 1000, "MB": 1000 * 1000}


def resolve(node: Any, schemas: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Inline every ``$ref`` and drop prose keys (never a property that has a prose name).

    Args:
        node: a fragment of the spec.
        schemas: ``components.schemas`` of the spec.
        seen: the refs being resolved, to stop on a cycle (none exist for these operations).

    Returns:
        The fragment with refs inlined.

    Raises:
        ValueError: when a ref is recursive.
    """
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in seen:
                msg = f"recursive schema {name!r}; the subset format cannot hold it"
                raise ValueError(msg)
            return resolve(schemas[name], schemas, (*seen, name))
        return {
            k: _resolve_named(v, schemas, seen) if k == "properties" else resolve(v, schemas, seen)
            for k, v in node.items()
            if k not in _PROSE_KEYS
        }
    if isinstance(node, list):
        return [resolve(v, schemas, seen) for v in node]
    return node


def _resolve_named(node: Any, schemas: dict[str, Any], seen: tuple[str, ...]) -> Any:
    """A ``properties`` map: its keys are property names (``description`` is one in some
    schemas), so none is dropped as prose."""
    if not isinstance(node, dict):
        return resolve(node, schemas, seen)
    return {name: resolve(sub, schemas, seen) for name, sub in node.items()}


def _filters(parameters: list[dict[str, Any]]) -> dict[str, list[str]] | None:
    """Parse the allowed fields and operators out of the ``filter`` parameter's prose."""
    for param in parameters:
        if param.get("name") == "filter":
            text = param.get("description", "").split("Allowed field(s)/operator(s):", 1)[-1]
            found = re.findall(r"`([^`]+)`: ((?:`[^`]+`(?:, )?)+)", text)
            return {field: re.findall(r"`([^`]+)`", ops) for field, ops in found}
    return None


def _prose_limits(description: str) -> dict[str, Any]:
    """Lift the limits stated only in an operation's description into fields."""
    limits: dict[str, Any] = {}
    if m := re.search(r"(?:Accepts up to|maximum of) ([\d,]+) profiles", description):
        limits["max_items"] = int(m.group(1).replace(",", ""))
    for m in re.finditer(
        r"maximum allowed payload size(?: per-profile)? is (\d+)\s?(KB|MB)", description
    ):
        key = "max_item_bytes" if "per-profile" in m.group(0) else "max_payload_bytes"
        limits[key] = int(m.group(1)) * _UNITS[m.group(2)]
    param_limits = re.findall(
        r"Rate limits when using the `([^=`]+)=([^`]+)` parameter"
        r".*?Burst: `([^`]+)`<br>Steady: `([^`]+)`",
        description,
    )
    if param_limits:
        limits["param_ratelimits"] = [
            {"parameter": p, "value": v, "burst": b, "steady": s} for p, v, b, s in param_limits
        ]
    return limits


def extract_operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """Build the subset entry for one operation."""
    schemas = spec["components"]["schemas"]
    op = spec["paths"][path][method]
    params = op.get("parameters", [])
    entry: dict[str, Any] = {
        "method": method.upper(),
        "path": path,
        "ratelimit": op["x-klaviyo-ratelimit"],
        "scopes": op["x-klaviyo-scopes"],
        "parameters": resolve(params, schemas),
        "filters": _filters(params),
        "limits": _prose_limits(op.get("description", "")),
        "request_body": None,
        "responses": {},
    }
    if body := op.get("requestBody"):
        content_type, media = next(iter(body["content"].items()))
        entry["request_body"] = {
            "required": body.get("required", False),
            "content_type": content_type,
            "schema": resolve(media["schema"], schemas),
        }
    for status, response in op["responses"].items():
        if status.startswith("2"):
            content = response.get("content")
            schema = next(iter(content.values()))["schema"] if content else None
            entry["responses"][status] = resolve(schema, schemas) if schema else None
    return entry


def extract(spec_path: Path) -> dict[str, Any]:
    """Build the whole subset from the spec at ``spec_path``."""
    raw = spec_path.read_bytes()
    spec = json.loads(raw)
    error_schema = resolve(
        spec["components"]["responses"]["ClientError"], spec["components"]["schemas"]
    )
    return {
        "source": {
            "file": "klaviyo/openapi openapi/stable.json",
            "revision": spec["info"]["version"],
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
        "security": resolve(spec["components"]["securitySchemes"], {}),
        "error_schema": next(iter(error_schema["content"].values()))["schema"],
        "operations": {
            spec["paths"][p][m]["operationId"]: extract_operation(spec, m, p) for m, p in OPERATIONS
        },
    }


def render(subset: dict[str, Any]) -> str:
    """Serialise the subset the way it is checked in (stable, diff-friendly)."""
    return json.dumps(subset, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write ``spec_subset.json`` next to this module."""
    args = sys.argv[1:] if argv is None else argv
    spec_path = Path(args[0]) if args else DEFAULT_SPEC
    SUBSET_PATH.write_text(render(extract(spec_path)))
    print(f"wrote {SUBSET_PATH} from {spec_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
