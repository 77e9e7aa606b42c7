"""``herald apply -f FILE|DIR``: make the stored definitions equal to the files, idempotently.

Every document is read and checked before anything is written, so a bad file leaves the stored
state unchanged. Segments are applied in dependency order (a segment used in another's
conditions first).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from herald.core.campaigns.model import Campaign
from herald.core.catalog import did_you_mean
from herald.core.segments import Segment, parse_segment
from herald.exceptions import DefinitionError
from herald.segments import referenced_segments
from herald.yaml_loader import Document, load_json, load_yaml

if TYPE_CHECKING:
    from herald.campaigns import Campaigns
    from herald.segments import Segments
    from herald.state import StateStore

SUFFIXES = (".yaml", ".yml", ".json")
KINDS = ("segment", "campaign")


class Services(Protocol):
    """What applying uses of a workspace (:class:`herald.Workspace`): its services, and the
    store whose transaction makes one batch all or nothing."""

    @property
    def segments(self) -> Segments: ...

    @property
    def campaigns(self) -> Campaigns: ...

    @property
    def store(self) -> StateStore: ...


@dataclass(frozen=True)
class Applied:
    kind: str
    name: str
    version: int
    action: str
    source: str
    warnings: list[Any] = field(default_factory=list)


MAX_FILE_BYTES = 1_000_000
"""A definition file is at most this large (1 MB); larger ones are refused before reading."""


@dataclass(frozen=True)
class Definition:
    """One definition read from a file: its mapping, where it came from, and the text of the
    values YAML typed (to quote what was written in messages)."""

    doc: dict[str, Any]
    source: str
    read: Document = field(default_factory=lambda: Document(None))

    def explain(self, error: DefinitionError) -> DefinitionError:
        """``error`` retold with the values as written in the file."""
        return self.read.explain(error)


@contextmanager
def explained(definition: Definition) -> Iterator[None]:
    """Retell a DefinitionError raised inside with the values as written in the file."""
    try:
        yield
    except DefinitionError as error:
        raise definition.explain(error) from None


def read_one(path: str | Path, kind: str | None = None) -> Definition:
    """The one definition in a file, for the commands that take exactly one.

    Raises:
        DefinitionError: as `read_definitions`; also when the file holds no definition or
            several, or (with ``kind``) one of another kind.
    """
    return one_definition(read_definitions(path), f"'{path}'", kind)


def one_definition(definitions: list[Definition], where: str, kind: str | None) -> Definition:
    """The only definition of ``definitions`` (read from ``where``), of ``kind`` when given.

    Raises:
        DefinitionError: there are none or several, or it is of another kind.
    """
    if len(definitions) != 1:
        msg = (
            f"{where} holds {len(definitions)} definitions; "
            "give exactly one (or use `herald apply -f`)"
        )
        raise DefinitionError(msg)
    [definition] = definitions
    doc = definition.doc
    found = doc.get("kind", kind) if isinstance(doc, dict) else kind
    if kind is not None and found != kind:
        msg = f"kind is '{found}'; `herald {kind}` takes kind: {kind}"
        raise DefinitionError(msg, location="kind", source=definition.source)
    return definition


def read_definitions(path: str | Path) -> list[Definition]:
    """Every definition in a file or a folder (sorted), with where it came from and what
    its YAML looked like.

    Raises:
        DefinitionError: for a missing path, a file that does not parse, or a document that is
            not a mapping; also a file over `MAX_FILE_BYTES`, one that is not UTF-8 text, or
            YAML that `herald.yaml_loader` refuses.
    """
    root = Path(path)
    if not root.exists():
        msg = f"'{root}' does not exist; give a definition file or a folder of them"
        raise DefinitionError(msg)
    files = sorted(p for p in root.rglob("*") if p.suffix in SUFFIXES) if root.is_dir() else [root]
    if not files:
        msg = f"no definition files ({', '.join(SUFFIXES)}) in '{root}'"
        raise DefinitionError(msg)
    return [item for file in files for item in _read_file(file)]


def _read_file(file: Path) -> Iterator[Definition]:
    try:
        read = load_json(_text(file)) if file.suffix == ".json" else load_yaml(_text(file))
    except DefinitionError as error:
        raise error.located(source=str(file)) from None
    for i, document in enumerate(read):
        source = str(file) if len(read) == 1 else f"{file} (document {i + 1})"
        if not isinstance(document.data, dict):
            msg = "a definition must be a mapping (key: value)"
            raise DefinitionError(msg, source=source)
        yield Definition(document.data, source, document)


def _text(file: Path) -> str:
    """The file's text, refused when too large, binary or not UTF-8."""
    try:
        with file.open("rb") as handle:  # read no more than the limit, whatever stat says
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        msg = f"cannot read the file: {error.strerror or error}"
        raise DefinitionError(msg) from None
    if len(data) > MAX_FILE_BYTES:
        msg = (
            f"the file is larger than {MAX_FILE_BYTES:,} bytes, the most a definition file "
            "may be: split it into several files"
        )
        raise DefinitionError(msg)
    if b"\0" in data:
        msg = "this is a binary file, not YAML or JSON text; give a definition file"
        raise DefinitionError(msg)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        msg = (
            f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        )
        raise DefinitionError(msg) from None


def apply_path(workspace: Services, path: str | Path) -> list[Applied]:
    """Apply every definition under ``path``; all are checked before any is written, and all
    are written in one transaction: when one fails, none is.

    Segments are written first (in dependency order), then campaigns.
    """
    definitions = read_definitions(path)
    try:
        return _apply(workspace, [(d.doc, d.source) for d in definitions])
    except DefinitionError as error:
        found = next((d for d in definitions if d.source == error.source), None)
        raise (found.explain(error) if found else error) from None


def _apply(workspace: Services, docs: list[tuple[dict[str, Any], str]]) -> list[Applied]:
    segments = _parse_segments([(d, s) for d, s in docs if _kind(d, s) == "segment"])
    campaigns = [(d, s) for d, s in docs if _kind(d, s) == "campaign"]
    ordered = _dependency_order(segments)
    pending = {seg.name: seg for seg, _ in segments}
    for seg, source in ordered:  # check everything first: nothing is written on error
        try:
            workspace.segments.compile(seg, pending=pending, bind=True)
        except DefinitionError as error:
            raise error.located(source=source) from None
    # Campaigns not in the batch stay as stored while it is applied: read them once.
    existing = workspace.campaigns.stored_campaigns() if campaigns else []
    batch = _check_campaigns(workspace, campaigns, pending, existing)
    results = []
    with workspace.store.transaction():
        for seg, source in ordered:
            try:
                result = workspace.segments.apply(seg, pending=pending)
            except DefinitionError as error:
                raise error.located(source=source) from None
            results.append(
                Applied("segment", seg.name, result.version.version, result.action, source)
            )
        for doc, source in campaigns:
            stored, warnings = workspace.campaigns.apply(
                doc, source=source, pending=pending, batch=batch, existing=existing
            )
            results.append(
                Applied(
                    "campaign",
                    stored.version.name,
                    stored.version.version,
                    stored.action,
                    source,
                    warnings,
                )
            )
    return results


def _kind(doc: dict[str, Any], source: str) -> str:
    kind = doc.get("kind", "segment")
    if kind not in KINDS:
        msg = f"unknown kind '{kind}'.{did_you_mean(str(kind), KINDS)} Kinds: {', '.join(KINDS)}"
        raise DefinitionError(msg, location="kind", source=source)
    return str(kind)


def _check_campaigns(
    workspace: Services,
    campaigns: list[tuple[dict[str, Any], str]],
    pending: dict[str, Segment],
    existing: list[Campaign],
) -> list[Campaign]:
    seen: dict[str, str] = {}
    batch: list[Campaign] = []
    for doc, source in campaigns:
        campaign = workspace.campaigns.parse(doc, source=source)
        if campaign.name in seen:
            msg = f"campaign '{campaign.name}' is defined twice (also in {seen[campaign.name]})"
            raise DefinitionError(msg, location="name", source=source)
        seen[campaign.name] = source
        batch.append(campaign)
    for campaign, (_, source) in zip(batch, campaigns, strict=True):
        workspace.campaigns.validate(
            campaign, source=source, pending=pending, batch=batch, existing=existing
        )
    return batch


def _parse_segments(docs: list[tuple[dict[str, Any], str]]) -> list[tuple[Segment, str]]:
    parsed: list[tuple[Segment, str]] = []
    seen: dict[str, str] = {}
    for doc, source in docs:
        segment = parse_segment(doc, source=source)
        if segment.name in seen:
            msg = f"segment '{segment.name}' is defined twice (also in {seen[segment.name]})"
            raise DefinitionError(msg, location="name", source=source)
        seen[segment.name] = source
        parsed.append((segment, source))
    return parsed


def _dependency_order(segments: list[tuple[Segment, str]]) -> list[tuple[Segment, str]]:
    by_name = {seg.name: (seg, source) for seg, source in segments}
    ordered: list[tuple[Segment, str]] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name) == "done" or name not in by_name:
            return
        if state.get(name) == "visiting":
            return  # a cycle: compile() reports it with the full path
        state[name] = "visiting"
        for dep in referenced_segments(by_name[name][0]):
            visit(dep)
        state[name] = "done"
        ordered.append(by_name[name])

    for seg, _ in segments:
        visit(seg.name)
    return ordered
