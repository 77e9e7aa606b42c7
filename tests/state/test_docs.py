"""The state package's public surface and the examples in its docstrings."""

from __future__ import annotations

import doctest
import importlib

import pytest

import herald.state

MODULES = ["herald.state", "herald.state._rules", "herald.state.store"]


def test_public_api():
    assert sorted(herald.state.__all__) == [
        "ApplyResult",
        "BatchRecord",
        "CampaignState",
        "DefinitionSummary",
        "DefinitionVersion",
        "DeliveryRecord",
        "InsightsRecord",
        "Run",
        "RunEvent",
        "SaveResult",
        "Schedule",
        "SlotRecord",
        "StateStore",
        "WebUser",
    ]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(importlib.import_module(module), optionflags=flags)

    assert result.failed == 0
    assert result.attempted > 0
