"""Where a Klaviyo list delivery keeps its files: one object names them all.

A delivery's folder lives in its run (``.herald/runs/<run id>/<list>/``): the staged inputs,
the diff files, what was read back from the list, rejected rows and the outcomes. A list's
ledger lives apart, under ``.herald/lists/``: every run of the list diffs against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from herald.destinations.base import OUTCOMES_FILE, SKIPPED_FILE

__all__ = ["DeliveryFolder", "ledger_path"]

_KIND_FILES: dict[str, str] = {
    "add": "adds.parquet",
    "update": "updates.parquet",
    "remove": "removes.parquet",
}


@dataclass(frozen=True)
class DeliveryFolder:
    """The files of one list delivery.

    Attributes:
        path: the folder.
    """

    path: Path

    @property
    def desired(self) -> Path:
        """The records the list must hold, staged by ``prepare_delivery``."""
        return self.path / "desired.parquet"

    @property
    def engine_desired(self) -> Path:
        """Instead of ``desired``: names the records a distributed engine keeps for the diff
        (``herald.destinations.klaviyo_api.engine_diff``)."""
        return self.path / "desired.engine.json"

    @property
    def skipped(self) -> Path:
        """Customers never sent (``key``, ``reason``): kept, it holds no email or phone."""
        return self.path / SKIPPED_FILE

    @property
    def adds(self) -> Path:
        return self.path / _KIND_FILES["add"]

    @property
    def updates(self) -> Path:
        return self.path / _KIND_FILES["update"]

    @property
    def removes(self) -> Path:
        return self.path / _KIND_FILES["remove"]

    def of_kind(self, kind: str) -> Path:
        """The diff file of a batch kind (``add``, ``update``, ``remove``)."""
        return self.path / _KIND_FILES[kind]

    @property
    def members(self) -> Path:
        """The list's members read back before planning (reconcile)."""
        return self.path / "members.parquet"

    @property
    def members_after(self) -> Path:
        """The list's members read back after the imports (to find bounced repairs)."""
        return self.path / "members.after.parquet"

    @property
    def outcomes(self) -> Path:
        return self.path / OUTCOMES_FILE

    def rejects(self, seq: int) -> Path:
        """Rows Klaviyo rejected in batch ``seq`` (``key``, ``reason``)."""
        return self.path / "rejects" / f"{seq}.parquet"

    @property
    def ledger_copy(self) -> Path:
        """The estimate's copy of the list's ledger, merged as if every batch went through."""
        return self.path / "ledger.parquet"

    @property
    def desired_ordered(self) -> Path:
        """A key-ordered copy of a desired file written before files were (removed after)."""
        return self.path / ".desired.ordered.parquet"

    @property
    def removes_resolved(self) -> Path:
        """The removes with their profile ids filled in, renamed over the removes."""
        return self.path / "removes.resolved.parquet"


def ledger_path(state_dir: Path, destination: str, list_id: str) -> Path:
    """Where the ledger of one list lives under the workspace's ``.herald`` folder."""
    return state_dir / "lists" / destination / f"{list_id}.parquet"
