"""Settings of a ``type = "csv_file"`` destination, read from ``[destinations.NAME]``.

Example ``herald.toml``::

    [destinations.files]
    type = "csv_file"
    folder = "exports"                     # relative to the workspace folder
    protect_formulas = true                # ' before text starting with = + - @ tab CR
    split_rows = 500000                    # optional: at most this many rows per file
    split_bytes = 100000000                # optional: at most about this many bytes per file
    gzip = false                           # true: NAME.csv.gz
"""

from __future__ import annotations

from herald.destinations.csv_writer import CsvOptions
from herald.destinations.settings import DestinationSettings

DESTINATION_TYPE = "csv_file"


class CsvFileSettings(DestinationSettings, CsvOptions):
    """A ``[destinations.NAME]`` table of ``type = "csv_file"``, as written in herald.toml:
    the folder, and how the files are written (:class:`CsvOptions`' keys)."""

    folder: str = "exports"
    """Where the files are written, relative to the workspace folder."""
