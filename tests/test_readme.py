"""README.md's examples, and the monitor example quoted in the user guide.

tests/test_docs.py runs every ```python block of README.md and docs/*.md (the examples are part
of the API). The monitor example is `docs/monitor_example.py` verbatim in docs/user-guide.md;
that file is run and checked against `certify` by tests/test_readme_monitor_example.py, so here
we only check that the quoted copy has not drifted from it.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
GUIDE_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "user-guide.md").read_text(), flags=re.S)
MONITOR_EXAMPLE = (ROOT / "docs" / "monitor_example.py").read_text()


def test_readme_has_examples():
    assert len(BLOCKS) >= 1 and len(GUIDE_BLOCKS) >= 3


def test_readme_monitor_example_is_the_tested_file():
    assert MONITOR_EXAMPLE in GUIDE_BLOCKS
