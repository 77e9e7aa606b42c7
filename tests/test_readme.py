"""The README's Python API example runs as written (on a small demo workspace)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from herald.workspace import Workspace

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_examples() -> list[str]:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks, "the README's Python API section has no python block"
    return blocks


def test_python_api_example_runs(
    tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Workspace.init(tmp_path / "herald-demo", database=str(demo_db)).close()
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    for block in python_api_examples():  # in order, as a reader would: the async one reruns
        exec(compile(block, "README.md", "exec"), namespace)
    exported = list((tmp_path / "herald-demo" / "exports").glob("CA_Winback_Offer_*.csv"))
    assert len(exported) == 1
    with Workspace.open(tmp_path / "herald-demo") as ws:
        statuses = [r.status for r in ws.store.list_runs("CA Winback")]
    assert statuses == ["delivered"] * len(python_api_examples())


def test_quick_start_is_two_commands() -> None:
    quick = README.read_text().split("## Quick start", 1)[1].split("##", 1)[0]
    block = re.search(r"```sh\n(.*?)```", quick, re.DOTALL)
    assert block
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]


def test_running_on_spark_settings_are_valid() -> None:
    """The section's herald.toml example is valid [engine] settings, its commented lake
    tables included."""
    from herald.config import EngineSettings

    section = README.read_text().split("## Running on Spark", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    head, tables = block.split("# [engine.tables]")
    lake = head + re.sub(r"^# ", "", "[engine.tables]" + tables, flags=re.MULTILINE)
    for text in (block, lake):
        engine = EngineSettings(**tomllib.loads(text)["engine"])
        assert engine.name == "spark"
    assert set(engine.tables) == {"Customer_360", "Unified_Transactions"}
    assert str(engine.work_dir).startswith("s3://")
