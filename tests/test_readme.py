"""Every Python snippet of the README runs, each on its own, as a user would paste it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def _name(snippet: str) -> str:
    """The snippet's first line that does something (not an import), for the test id."""
    lines = [ln for ln in snippet.splitlines() if ln and not ln.startswith(("import", "from", "#"))]
    return re.sub(r"\W+", "_", lines[0])[:40] if lines else "imports"


def test_the_readme_has_snippets():
    assert len(SNIPPETS) >= 8


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[_name(s) for s in SNIPPETS])
def test_readme_snippet_runs(snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    exec(compile(snippet, str(README), "exec"), {"__name__": "__readme__"})
