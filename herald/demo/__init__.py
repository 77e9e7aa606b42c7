"""The demo customer 360 database and example definitions."""

from __future__ import annotations

from herald.demo.generate import TABLES, DemoSummary, generate_demo_database

__all__ = ["TABLES", "DemoSummary", "generate_demo_database"]
