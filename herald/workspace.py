"""A workspace: a folder with ``herald.toml`` and ``.herald/`` (state database, run snapshots).

Commands find it from ``--workspace``, then ``HERALD_WORKSPACE``, then the current folder and
its parents.

The workspace is where the parts meet: it opens the engine and the state store and builds the
services over them (``Segments``, ``Campaigns``), which know it only as
:class:`herald.resources.Resources`. Each part is imported when first used, so that a command
loads only the engine, store and libraries it needs.
"""

from __future__ import annotations

import difflib
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from herald.atomic import atomic_file
from herald.exceptions import ConfigError, NotFoundError, WorkspaceNotFoundError

if TYPE_CHECKING:
    from herald.campaigns import Campaigns
    from herald.config import Settings
    from herald.core.catalog import Catalog
    from herald.destinations.base import Destination
    from herald.engines.base import Engine
    from herald.segments import Segments
    from herald.state import StateStore

CONFIG_FILE = "herald.toml"
STATE_DIR = ".herald"
ENV_VAR = "HERALD_WORKSPACE"
DEFAULT_DATABASE = "data/customers.duckdb"


class Workspace:
    """An open workspace: settings, and lazily the engine, the state store and services.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings

    # --- finding and creating -------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> Workspace:
        """Open the workspace at ``path``, or the one found from the environment and cwd.

        Raises:
            WorkspaceNotFoundError: when no ``herald.toml`` is found, saying how to make one.
        """
        from herald.config import load_settings

        root = find_root(path)
        return cls(root, load_settings(root / CONFIG_FILE))

    @classmethod
    def init(cls, path: str | os.PathLike[str], *, database: str | None = None) -> Workspace:
        """Create a workspace folder with a default ``herald.toml``, ``.herald/`` and the state
        database that [state] url names.

        An existing ``herald.toml`` is kept as it is, an existing state database is upgraded to
        the newest schema (init is safe to repeat).
        """
        root = Path(path).resolve()
        root.mkdir(parents=True, exist_ok=True)
        (root / STATE_DIR).mkdir(exist_ok=True)
        config = root / CONFIG_FILE
        if not config.exists():
            from herald.config import DEFAULT_TOML

            text = DEFAULT_TOML.format(database=database or "data/customers.duckdb")
            with atomic_file(config) as out:
                out.write(text)
        ws = cls.open(root)
        try:
            from herald.state import StateStore

            # The one place a state database is created (or brought to the newest schema).
            StateStore.open(ws.state_url, create=True).close()
        except BaseException:
            ws.close()
            raise
        return ws

    # --- resources -------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def runs_dir(self) -> Path:
        """Where each run keeps its files (``.herald/runs/<run id>/``)."""
        return self.state_dir / "runs"

    @property
    def database_path(self) -> Path:
        """The DuckDB database file (``[engine] database``, by default the demo's)."""
        return self.resolve(self.settings.engine.database or DEFAULT_DATABASE)

    def resolve(self, relative: str | os.PathLike[str]) -> Path:
        """A path from herald.toml, relative to the workspace folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.root / path

    def location(self, text: str) -> str:
        """A location from herald.toml: a URI as it is, a path relative to the workspace."""
        return text if "://" in text else str(self.resolve(text))

    @cached_property
    def engine(self) -> Engine:
        from herald.engines.base import create_engine

        return create_engine(self.settings.engine.name, **self.engine_options())

    def engine_options(self) -> dict[str, Any]:
        """The engine's arguments from ``[engine]``, paths resolved in this workspace."""
        s = self.settings.engine
        tables = {name: self.location(where) for name, where in s.tables.items()}
        common = {"threads": s.threads, "memory_limit": s.memory_limit, "tables": tables}
        if s.name != "spark":
            database = None if tables and s.database is None else self.database_path
            return {"database": database, **common}
        work_dir = self.location(s.work_dir) if s.work_dir else self.state_dir / "spark"
        return {
            **common,
            "master": s.master,
            "connect": s.connect,
            "database": s.database,
            "table_format": s.table_format,
            "options": {
                k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in s.options.items()
            },
            "work_dir": work_dir,
        }

    @cached_property
    def catalog(self) -> Catalog:
        return self.engine.catalog(**self.settings.database.catalog_roles())

    @cached_property
    def store(self) -> StateStore:
        """The state store; only `init` creates it, so a mistyped [state] url is an error."""
        from herald.state import StateStore

        return StateStore.open(self.state_url, create=False)

    @property
    def state_url(self) -> str:
        """[state] url, a relative SQLite path made relative to the workspace folder.

        Raises:
            ConfigError: the URL cannot be parsed, or names an in-memory SQLite database
                (``sqlite://``), which would forget everything when the command ends.
        """
        from herald.state._engine import is_in_memory, parse_url

        url = self.settings.state.url
        try:
            parsed = parse_url(url)
        except ConfigError as error:
            msg = f"{self.root / CONFIG_FILE}: [state] url: {error}"
            raise ConfigError(msg) from None
        if is_in_memory(parsed):
            msg = (
                f"{self.root / CONFIG_FILE}: [state] url {url!r} is an in-memory database that "
                'forgets everything when the command ends; write url = "sqlite:///.herald/state.db"'
                " (three slashes, then a path)"
            )
            raise ConfigError(msg)
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            return prefix + str(self.resolve(url[len(prefix) :]))
        return url

    @cached_property
    def campaigns(self) -> Campaigns:
        from herald.campaigns import Campaigns

        return Campaigns(self, self.segments)

    @cached_property
    def segments(self) -> Segments:
        from herald.segments import Segments

        return Segments(self)

    def destination(self, name: str) -> Destination:
        """A destination of herald.toml, by name, ready to stage, deliver, check or estimate.

        Raises:
            NotFoundError: no such destination (with "did you mean").
        """
        from herald.destinations.base import DestinationContext
        from herald.destinations.registry import destination_class

        destinations = self.settings.destinations
        if name not in destinations:
            close = difflib.get_close_matches(name, list(destinations), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            known = ", ".join(sorted(destinations)) or "none"
            msg = f"no destination '{name}' in herald.toml (known: {known}).{hint}"
            raise NotFoundError(msg)
        settings = destinations[name]
        context = DestinationContext(
            self.root, self.state_dir, lambda: self.store, lambda: self.engine
        )
        return destination_class(settings.type)(name, settings, context)

    def close(self) -> None:
        """Close the engine and the state store if they were opened."""
        if "engine" in self.__dict__:
            self.engine.close()
        if "store" in self.__dict__:
            self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_root(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``herald.toml``: ``path``, ``$HERALD_WORKSPACE``, or cwd upwards."""
    explicit = path or os.environ.get(ENV_VAR)
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / CONFIG_FILE).is_file():
            origin = "--workspace" if path else ENV_VAR
            msg = (
                f"no {CONFIG_FILE} in '{root}' (from {origin}); "
                f"create one with `herald init {root}`"
            )
            raise WorkspaceNotFoundError(msg)
        return root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    msg = (
        f"no Herald workspace here: no {CONFIG_FILE} in '{here}' or its parents. "
        f"Create one with `herald init`, or point to one with --workspace or {ENV_VAR}"
    )
    raise WorkspaceNotFoundError(msg)


__all__ = ["CONFIG_FILE", "ConfigError", "Workspace", "find_root"]
