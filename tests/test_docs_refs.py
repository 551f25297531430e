"""The pages a user reads say what the code does: every ``acakit.*`` name they mention imports,
every file of the checkout they name exists, and the cheap commands they quote print the
numbers they quote."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "benchmarks" / "README.md",
         *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs").glob("*/*.md"))]
NAME = re.compile(r"\bacakit(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
FILE = re.compile(r"(?<![\w/.-])((?:examples|docs|benchmarks|src|tests)/[\w./-]+\."
                  r"(?:ya?ml|py|md|csv|json|toml|sh))")
#: Commands whose quoted output is checked (they take seconds: no config is run).
CHEAP = ("plan", "bound", "multi-bound")


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_acakit_name_a_page_mentions_imports(page):
    from acakit.registry import GROUP, KINDS

    groups = {GROUP.format(kind=k) for k in KINDS}  # the plugins' entry-point groups
    names = sorted({n.rstrip(".") for n in NAME.findall(page.read_text(encoding="utf-8"))})
    bad = [n for n in names if not _resolves(n) and n not in groups]
    assert not bad, f"{page.name}: {bad}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_page_names_exists(page):
    text = page.read_text(encoding="utf-8")
    missing = []
    for m in FILE.finditer(text):
        before = text[max(0, m.start() - 120):m.start()]
        if "github.com" in before or "repository" in before:  # another project's file
            continue
        path = m.group(1).rstrip(".")
        if not (ROOT / path).exists() and not path.startswith("docs/_build"):
            missing.append(path)
    assert not missing, f"{page.name}: {sorted(set(missing))}"


def _quoted_commands() -> list[tuple[str, str, list[str]]]:
    """(page, command, numbers quoted in the lines after it) for every ``$ acakit <cheap>``."""
    out = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^\$ acakit (\S+)(.*)$", line.strip())
            if not m or m.group(1) not in CHEAP or ".yaml" in line:
                continue
            quoted = []
            for nxt in lines[i + 1:]:
                if nxt.strip().startswith(("$", "```")):
                    break
                quoted += re.findall(r"(?<![\w.])\d[\d,]*\.?\d*", nxt)
            out.append((page.name, line.strip()[2:], quoted))
    return out


@pytest.mark.parametrize("page,command,quoted", _quoted_commands(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_numbers_a_page_quotes_are_what_the_command_prints(page, command, quoted):
    from acakit.cli import _register_plugins, app

    _register_plugins()
    r = CliRunner().invoke(app, shlex.split(command)[1:], env={"COLUMNS": "150"})
    assert r.exit_code == 0, r.output
    printed = r.stdout.replace(",", "")
    missing = [q for q in quoted if q.replace(",", "").rstrip(".") not in printed]
    assert not missing, f"{page}: `{command}` does not print {missing}"


def test_there_are_quoted_commands_to_check():
    assert len(_quoted_commands()) >= 2
