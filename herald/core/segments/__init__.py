"""Segments: definitions, parsing, and compilation to sqlglot trees."""

from __future__ import annotations

from herald.core.segments.compile import compile_segment
from herald.core.segments.model import (
    All,
    Any_,
    Attribute,
    Group,
    InSegment,
    Not,
    Purchase,
    Segment,
)
from herald.core.segments.parse import parse_segment, segment_to_dict

__all__ = [
    "All",
    "Any_",
    "Attribute",
    "Group",
    "InSegment",
    "Not",
    "Purchase",
    "Segment",
    "compile_segment",
    "parse_segment",
    "segment_to_dict",
]
