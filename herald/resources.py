"""What the definition services use of a workspace: its settings, engine, catalog and store.

``Segments`` and ``Campaigns`` depend on this protocol rather than on ``Workspace``, so that
the workspace, which builds them, is the only one of the three that knows the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from herald.config import Settings
    from herald.core.catalog import Catalog
    from herald.engines.base import Engine
    from herald.state import StateStore


class Resources(Protocol):
    """A workspace's resources, each opened on first use (:class:`herald.Workspace`)."""

    @property
    def settings(self) -> Settings:
        """herald.toml, parsed."""

    @property
    def engine(self) -> Engine:
        """The SQL engine over the customer database."""

    @property
    def catalog(self) -> Catalog:
        """The customer database's tables and columns, with their roles."""

    @property
    def store(self) -> StateStore:
        """The state store: definitions and their versions, insights, runs."""
