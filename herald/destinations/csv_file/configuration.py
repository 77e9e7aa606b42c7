"""Settings of a ``type = "csv_file"`` destination, read from ``[destinations.NAME]``.

Example ``herald.toml``::

    [destinations.files]
    type = "csv_file"
    folder = "exports"                     # relative to the workspace folder
"""

from __future__ import annotations

from herald.destinations.settings import DestinationSettings

DESTINATION_TYPE = "csv_file"


class CsvFileSettings(DestinationSettings):
    """A ``[destinations.NAME]`` table of ``type = "csv_file"``, as written in herald.toml."""

    folder: str = "exports"
    """Where the files are written, relative to the workspace folder."""
