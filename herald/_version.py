"""Herald's version, in a module of its own so that reading it imports nothing else (the
command line's ``--version`` and the Klaviyo client's User-Agent)."""

from __future__ import annotations

__version__ = "0.1.0"
