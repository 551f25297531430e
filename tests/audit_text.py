"""The visible text of an audit report: what a reader sees, for before/after comparisons.

``visible_text(html)`` keeps every text node outside ``<style>``/``<script>`` and the ``alt`` of
each image, joined by single spaces (whitespace normalised), so two reports with the same
content and numbers compare equal whatever their markup. ``normalised`` also replaces what
changes from run to run or machine to machine: the wall-clock time ("Took 3 s") and the
absolute path of the data file.
"""

from __future__ import annotations

import re
import shlex
from html.parser import HTMLParser
from pathlib import Path


class _Text(HTMLParser):
    def __init__(self, skip_ids: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip_ids = skip_ids
        self._stack: list[tuple[str, bool]] = []  # (tag, hidden) of open elements

    def _hidden(self) -> bool:
        return bool(self._stack) and self._stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img":
            if not self._hidden():
                self.parts.append(f"[image: {a.get('alt') or ''}]")
            return
        if tag in ("meta", "br", "hr", "link", "input"):
            return
        hidden = self._hidden() or tag in ("style", "script") or a.get("id") in self.skip_ids
        self._stack.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.parts.append(data)


def visible_text(html: str, skip_ids: tuple[str, ...] = ()) -> str:
    """The page's text as a reader sees it, whitespace normalised; elements whose ``id`` is in
    ``skip_ids`` (and everything inside them) are left out."""
    p = _Text(frozenset(skip_ids))
    p.feed(html)
    p.close()
    return " ".join(" ".join(p.parts).split())


def normalised(html: str, data: Path, skip_ids: tuple[str, ...] = ()) -> str:
    """:func:`visible_text` with the run time and the data file's absolute path replaced."""
    text = visible_text(html, skip_ids)
    path = str(Path(data).expanduser().resolve())
    text = text.replace(shlex.quote(path), "DATA.csv").replace(path, "DATA.csv")
    return re.sub(r"Took \d+ s\.", "Took N s.", text)
