"""Every Python snippet of the README and the learner families' READMEs runs, each on its own,
as a user would paste it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "omnigym" / "agents").glob("*/README.md"))]
PLACES = [
    (doc, snippet)
    for doc in DOCS
    for snippet in re.findall(r"^```python\n(.*?)^```", doc.read_text(), flags=re.S | re.M)
]


def _name(snippet: str) -> str:
    """The snippet's first line that does something (not an import), for the test id."""
    lines = [ln for ln in snippet.splitlines() if ln and not ln.startswith(("import", "from", "#"))]
    return re.sub(r"\W+", "_", lines[0])[:40] if lines else "imports"


def test_the_readme_has_snippets():
    assert len(PLACES) >= 8


def test_every_learner_family_has_a_readme():
    families = {p.parent.name for p in DOCS[1:]}
    assert families == {"goal_discrete", "goal_continuous", "offline", "ued", "mean_field", "hbs", "nca"}


@pytest.mark.parametrize(
    "doc, snippet", PLACES, ids=[f"{d.parent.name}-{_name(s)}" for d, s in PLACES]
)
def test_readme_snippet_runs(doc, snippet, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    exec(compile(snippet, str(doc), "exec"), {"__name__": "__readme__"})
