"""Every ```python block of README.md runs as written (the examples are part of the API).

The monitor example is `docs/monitor_example.py` verbatim; that file is run and checked
against `certify` by tests/test_readme_monitor_example.py, so here we only check the README
copy has not drifted from it.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
MONITOR_EXAMPLE = (ROOT / "docs" / "monitor_example.py").read_text()


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


def test_readme_monitor_example_is_the_tested_file():
    assert MONITOR_EXAMPLE in BLOCKS


RUNNABLE = [i for i, block in enumerate(BLOCKS) if block != MONITOR_EXAMPLE]


@pytest.mark.parametrize("index", RUNNABLE)
def test_readme_block_runs(index):
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {"__name__": "__readme__"})
