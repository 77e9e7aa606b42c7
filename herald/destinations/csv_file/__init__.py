"""CSV files in a folder: each run writes a group's whole file (DESIGN §1.4).

``factory.py`` is the destination (:class:`CsvFileDestination`) and ``configuration.py`` its
settings; the CSV itself is written by :mod:`herald.destinations.csv_writer`, which the SFTP
destinations share.
"""

from __future__ import annotations

from herald.destinations.csv_file.configuration import CsvFileSettings
from herald.destinations.csv_file.factory import CsvFileDestination

__all__ = ["CsvFileDestination", "CsvFileSettings"]
