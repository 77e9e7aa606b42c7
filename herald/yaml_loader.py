"""Read definition text (YAML or JSON) safely: bounded, strict, and with the text as written.

PyYAML's ``safe_load`` expands aliases without limit (a few hundred bytes of "billion laughs"
become megabytes), keeps the last of two equal keys, builds self-referencing structures, and
crashes on an impossible date such as ``2026-02-30``. This loader refuses all of these with one
line naming the line, and remembers the text of every scalar that YAML typed implicitly
(``ON`` read as a boolean, ``01234`` as the number 668), so that messages can quote what the
author wrote rather than what YAML made of it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from herald.core.segments.values import describe
from herald.exceptions import DefinitionError

MAX_ALIAS_NODES = 10_000
"""At most this many nodes may be added by expanding aliases (``*name``) in one file."""

MAX_DEPTH = 64
"""How deeply mappings and lists may nest in a definition file."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_TYPED_TAGS = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "nothing",
    "tag:yaml.org,2002:timestamp": "a date",
}


@dataclass(frozen=True)
class Written:
    """A plain scalar that YAML typed: the text as written and what it became."""

    text: str
    value: Any
    kind: str
    line: int

    def explain(self, message: str) -> str | None:
        """``message`` retold with the text as written, when it is about this value; else None.

        >>> print(Written("01234", 668, "a number", 3).explain("expected text, got int 668; …"))
        expected text, got '01234', which YAML read as the number 668; quote it: "01234"
        """
        if str(self.value) == self.text and not isinstance(self.value, bool):
            return None  # shown as written already: 0, 2.5
        became = f"the number {self.value!r}" if self.kind == "a number" else self.kind
        for shown in (f"got {describe(self.value)}", f"got {self.value!r}"):
            at = message.find(shown)
            if at >= 0:
                told = f"{message[:at]}got '{self.text}', which YAML read as {became}"
                if "expected text" in message:
                    told += f'; quote it: "{self.text}"'
                return told
        if self.value is None:  # a YAML null where a value is needed: "needs a 'value'"
            return f"{message}; value '{self.text}' was read as nothing; quote it: \"{self.text}\""
        return None


@dataclass
class Document:
    """One definition read from a file, with the implicitly typed scalars by location."""

    data: Any
    written: dict[str, Written] = field(default_factory=dict)

    def explain(self, error: DefinitionError) -> DefinitionError:
        """``error`` retold with the text as written, when it is about a value YAML typed."""
        if not error.location:
            return error
        for loc, written in self.written.items():
            if loc == error.location or loc.startswith(f"{error.location}["):
                told = written.explain(error.message)
                if told is not None:
                    return type(error)(told, location=error.location, source=error.source)
        return error


class _Problem(Exception):
    """A problem found while reading, with the line it is on (1-based)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _Constructor(yaml.constructor.SafeConstructor):
    """SafeConstructor that refuses duplicate keys and explains impossible dates."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            if key in seen:
                line = key_node.start_mark.line + 1
                msg = f"duplicate key '{key}' at line {line}; keep only one"
                raise _Problem(msg, line)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: ScalarNode) -> dt.date | dt.datetime:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            line = node.start_mark.line + 1
            msg = (
                f"'{node.value}' at line {line} is not a real calendar date; "
                "give a date that exists (YYYY-MM-DD)"
            )
            raise _Problem(msg, line) from None


_Constructor.add_constructor(  # type: ignore[type-var]  # the stubs' bound is too narrow
    "tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp
)

if yaml.__with_libyaml__:  # libyaml: several times faster, and it bounds nesting itself
    from yaml.cyaml import CParser  # type: ignore[attr-defined]  # only with libyaml

    class _Loader(CParser, _Constructor, yaml.resolver.Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            _Constructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _Constructor,
        yaml.resolver.Resolver,
    ):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


def load_yaml(text: str) -> list[Document]:
    """Every non-empty document in YAML ``text``.

    Raises:
        DefinitionError: the text does not parse, has a duplicate key, an impossible date, an
            alias that refers to itself or expands beyond `MAX_ALIAS_NODES` nodes, or nests
            deeper than `MAX_DEPTH`; the message names the line.

    >>> [d.data for d in load_yaml("name: A\\nstatus: active\\n")]
    [{'name': 'A', 'status': 'active'}]
    >>> load_yaml("value: ON")[0].written["value"].text
    'ON'
    """
    loader = _Loader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            written: dict[str, Written] = {}
            _measure(node, loader.construct_object, written)
            data = loader.construct_document(node)
            if data is not None:
                documents.append(Document(data, written))
        return documents
    except _Problem as problem:
        raise DefinitionError(problem.message) from None
    except yaml.YAMLError as error:
        msg = f"cannot parse: {' '.join(str(error).split())}"
        raise DefinitionError(msg) from None
    except RecursionError:
        msg = f"the definition nests deeper than {MAX_DEPTH} levels"
        raise DefinitionError(msg) from None
    finally:
        loader.dispose()


def load_json(text: str) -> list[Document]:
    """The one document in JSON ``text``.

    Raises:
        DefinitionError: the text does not parse, or nests too deeply for Python to read.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        msg = f"cannot parse: {' '.join(str(error).split())}"
        raise DefinitionError(msg) from None
    except RecursionError:
        msg = "the definition nests too deeply to read; flatten it"
        raise DefinitionError(msg) from None
    return [Document(data)] if data is not None else []


def _measure(root: Node, construct: Any, written: dict[str, Written]) -> None:
    """Refuse self-referencing aliases and alias expansion beyond the budget; record the typed
    scalars by location (``where[0].value``), named as the parsers name places."""
    sizes: dict[int, int] = {}
    expanded = 0

    def visit(node: Node, loc: str | None, path: tuple[int, ...]) -> int:
        nonlocal expanded
        line = node.start_mark.line + 1
        if len(path) >= MAX_DEPTH:
            msg = f"the definition nests deeper than {MAX_DEPTH} levels"
            raise _Problem(msg, line)
        if id(node) in path:
            msg = (
                f"the YAML alias to the anchor at line {line} refers to itself; "
                "an alias can only repeat something complete before it"
            )
            raise _Problem(msg, line)
        if id(node) in sizes:  # a node seen before: an alias repeats it here
            expanded += sizes[id(node)]
            if expanded > MAX_ALIAS_NODES:
                msg = (
                    f"YAML aliases (anchor at line {line}) expand to more than "
                    f"{MAX_ALIAS_NODES:,} values; write the definition out instead"
                )
                raise _Problem(msg, line)
        else:
            inner = (*path, id(node))
            sizes[id(node)] = 1 + sum(visit(c, c_loc, inner) for c, c_loc in _children(node, loc))
        if loc is not None:
            _record(node, loc, construct, written)
        return sizes[id(node)]

    visit(root, "", ())


def _children(node: Node, loc: str | None) -> list[tuple[Node, str | None]]:
    if isinstance(node, SequenceNode):
        return [(c, None if loc is None else f"{loc}[{i}]") for i, c in enumerate(node.value)]
    if not isinstance(node, MappingNode):
        return []
    out: list[tuple[Node, str | None]] = []
    for key, value in node.value:
        out.append((key, None))  # keys count towards the size, but are never values
        if loc is None or not isinstance(key, ScalarNode):
            out.append((value, None))
        else:
            out.append((value, f"{loc}.{key.value}" if loc else key.value))
    return out


def _record(node: Node, loc: str, construct: Any, written: dict[str, Written]) -> None:
    if not isinstance(node, ScalarNode) or node.style or node.tag not in _TYPED_TAGS:
        return
    value = construct(node)
    line = node.start_mark.line + 1
    written.setdefault(loc, Written(node.value, value, _TYPED_TAGS[node.tag], line))
