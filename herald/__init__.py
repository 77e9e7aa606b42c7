"""Herald: segments over a customer 360 database, campaigns, and delivery to Klaviyo."""

from __future__ import annotations

__version__ = "0.1.0"
