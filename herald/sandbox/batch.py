"""Check a whole array of values against one JSON Schema at once, keyword by keyword.

The compiled validator (``validation.body_validator``) walks a 10,000-profile bulk import body
one profile at a time in Python, about 2 µs a profile. These checks take each keyword across
every value at once with C-level builtins (``map``, ``set``, ``itemgetter``), about 0.3 µs a
profile. They are conservative: True means the compiled validator would accept every value;
False only means it must decide (and word the error). A schema with a keyword not handled here
gets no batch check at all (``compile_batch`` returns None), so a change to the spec can make
validation slower but never laxer.

>>> check = compile_batch({"type": "object", "required": ["n"],
...                        "properties": {"n": {"type": ["string", "null"]}}})
>>> check([{"n": "a"}, {"n": None, "x": 1}]), check([{"n": 1}]), check([{}])
(True, False, False)
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, repeat
from operator import contains, itemgetter
from typing import Any

#: Returns True only if every value in the list is valid.
Check = Callable[[list[Any]], bool]

#: JSON Schema types as the exact Python types ``json.loads`` produces. Exact types are stricter
#: than the validator's ``isinstance`` (a bool is not a number here), which is the safe side.
_PY_TYPES: dict[str, frozenset[type]] = {
    "string": frozenset({str}),
    "object": frozenset({dict}),
    "array": frozenset({list}),
    "null": frozenset({type(None)}),
    "boolean": frozenset({bool}),
    "number": frozenset({int, float}),
    "integer": frozenset({int}),
}


def compile_batch(schema: Any) -> Check | None:
    """A batch check for ``schema`` (JSON Schema, as ``validation.to_json_schema`` makes it).

    Returns:
        The check, or None when the schema uses anything this module does not handle.
    """
    if not isinstance(schema, dict):
        return None
    if set(schema) in ({"anyOf"}, {"oneOf"}):
        return _alternatives(next(iter(schema.values())))
    types = _types(schema.get("type"))
    if types is None:  # the other keywords apply only to some types: the type must say which
        return None
    if schema.keys() == {"type"}:
        return _type_check(types)
    if schema.keys() == {"type", "enum"}:
        return _enum(schema["enum"], types)
    if types == {dict} and schema.keys() <= {"type", "properties", "required"}:
        return _members(schema.get("properties", {}), schema.get("required", []))
    if types == {list} and schema.keys() == {"type", "items"}:
        return _items(schema["items"])
    return None


def allowed_types(schema: Any) -> frozenset[type] | None:
    """The exact Python types a schema allows at most, or None when it does not say.

    >>> sorted(t.__name__ for t in allowed_types({"oneOf": [{"type": "null"}, {"type": "array"}]}))
    ['NoneType', 'list']
    """
    if not isinstance(schema, dict):
        return None
    if set(schema) in ({"anyOf"}, {"oneOf"}):
        branches = next(iter(schema.values()))
        if not isinstance(branches, list):
            return None
        found = [allowed_types(b) for b in branches]
        return None if None in found else frozenset().union(*found)  # type: ignore[arg-type]
    return _types(schema.get("type"))


def column(dicts: list[dict[str, Any]], name: str) -> list[Any]:
    """The values of ``name`` in the dicts that have it, in order."""
    try:
        return list(map(itemgetter(name), dicts))  # every dict has it: the common case
    except KeyError:
        return [d[name] for d in dicts if name in d]


def _types(spec: Any) -> frozenset[type] | None:
    names = [spec] if isinstance(spec, str) else spec
    if not isinstance(names, list) or not all(n in _PY_TYPES for n in names):
        return None
    return frozenset().union(*(_PY_TYPES[n] for n in names))


def _type_check(types: frozenset[type]) -> Check:
    def check(values: list[Any]) -> bool:
        return set(map(type, values)) <= types

    return check


def _enum(allowed: Any, types: frozenset[type]) -> Check | None:
    # Only strings: the validator compares with ==, and 1 == 1.0 == True would need care. A
    # value equal to one of these strings is a string, so the type needs no check of its own.
    if types != {str} or not isinstance(allowed, list) or not all(type(v) is str for v in allowed):
        return None
    members = frozenset(allowed)

    def check(values: list[Any]) -> bool:
        try:
            return set(values) <= members
        except TypeError:  # an unhashable value (a dict or a list) is not one of them
            return False

    return check


def _items(schema: Any) -> Check | None:
    inner = compile_batch(schema)
    if inner is None:
        return None

    def check(values: list[Any]) -> bool:
        return set(map(type, values)) <= {list} and inner(list(chain.from_iterable(values)))

    return check


def _members(properties: Any, required: Any) -> Check | None:
    """``type: object`` with ``properties`` and ``required``, member by member."""
    if not isinstance(properties, dict) or not isinstance(required, list):
        return None
    leaves = {name: _leaf_types(sub) for name, sub in properties.items()}
    nested = {name: compile_batch(sub) for name, sub in properties.items() if not leaves[name]}
    if None in nested.values() or not all(isinstance(n, str) for n in required):
        return None
    must = frozenset(required)

    def check(values: list[Any]) -> bool:
        if not set(map(type, values)) <= {dict}:
            return False
        present = set().union(*values)  # every key any value has, in one C-level pass
        if not present >= must:
            return False
        for name in must - properties.keys():
            if not all(map(contains, values, repeat(name))):
                return False
        for name in present & properties.keys():
            try:
                found = list(map(itemgetter(name), values))  # every dict has it: the usual
            except KeyError:
                if name in must:
                    return False
                found = [v[name] for v in values if name in v]
            leaf = leaves[name]
            if not (set(map(type, found)) <= leaf if leaf else nested[name](found)):  # type: ignore[misc]
                return False
        return True

    return check


def _leaf_types(schema: Any) -> frozenset[type] | None:
    """The types of a schema that is only a ``type`` (checked inline by ``_members``)."""
    if isinstance(schema, dict) and schema.keys() == {"type"}:
        return _types(schema["type"])
    return None


def _alternatives(branches: Any) -> Check | None:
    """``anyOf``/``oneOf`` whose branches allow disjoint types: each value has one candidate.

    With disjoint types a value can pass at most one branch, so ``oneOf`` (exactly one passes)
    and ``anyOf`` (at least one passes) agree, and each value is checked against the branch
    that allows its type.
    """
    if not isinstance(branches, list) or not branches:
        return None
    compiled: list[tuple[frozenset[type], Check]] = []
    seen: set[type] = set()
    for branch in branches:
        types, inner = allowed_types(branch), compile_batch(branch)
        if types is None or inner is None or seen & types:
            return None
        seen |= types
        compiled.append((types, inner))

    def check(values: list[Any]) -> bool:
        if not set(map(type, values)) <= seen:
            return False
        return all(inner([v for v in values if type(v) in types]) for types, inner in compiled)

    return check
