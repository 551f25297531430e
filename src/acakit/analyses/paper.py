"""Tables a paper can print: the terminal's summary tables as LaTeX (booktabs) or Markdown.

The rows, the numbers and their formatting are those of the tables ``acakit run`` and
``acakit report`` print (every kind: single, multi, fairness, gradient, the game): the tables are
taken from the result's ``show`` itself, so a paper table cannot drift from the terminal. Each
table keeps its title and its caption (which says how the intervals were made); a partial run
says so in every caption.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: Unicode in acakit's tables -> LaTeX that pdflatex sets without extra packages.
LATEX_SYMBOLS = {
    "α": r"\ensuremath{\alpha}", "θ": r"\ensuremath{\theta}", "Δ": r"\ensuremath{\Delta}",
    "ξ": r"\ensuremath{\xi}", "ε": r"\ensuremath{\varepsilon}", "ρ": r"\ensuremath{\rho}",
    "δ": r"\ensuremath{\delta}", "κ": r"\ensuremath{\kappa}", "μ": r"\ensuremath{\mu}",
    "σ": r"\ensuremath{\sigma}", "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}",
    "±": r"\ensuremath{\pm}", "×": r"\ensuremath{\times}", "→": r"\ensuremath{\to}",
    "–": "--", "—": "---", "−": "-", "·": r"\ensuremath{\cdot}", "‖": r"\ensuremath{\|}",
    "∗": "*", "≈": r"\ensuremath{\approx}", "…": r"\ldots{}", "’": "'", "“": "``", "”": "''",
    "*": r"\ensuremath{^*}",
}


@dataclass
class PaperTable:
    """One table as the terminal printed it: title, caption and cells (strings)."""

    title: str
    caption: str
    frame: pd.DataFrame


class _Recorder:
    """A stand-in console that keeps the rich tables printed on it (and the lines)."""

    def __init__(self) -> None:
        self.tables: list[Any] = []
        self.lines: list[str] = []

    def print(self, obj: Any = "", *args: Any, **kwargs: Any) -> None:
        from rich.table import Table

        if isinstance(obj, Table):
            self.tables.append(obj)
        else:
            self.lines.append(str(getattr(obj, "plain", obj)))


def _plain(value: Any) -> str:
    return str(getattr(value, "plain", value if value is not None else "")).replace("\n", " ")


def terminal_tables(result: Any, partial: str = "") -> list[PaperTable]:
    """The tables ``result.show(console)`` prints, as :class:`PaperTable` (strings as shown).

    Parameters
    ----------
    result : a kind's result (:func:`acakit.analyses.run_experiment`, ``report``)
    partial : str
        ``"partial: k of n cells"`` to put in every caption (empty for a complete run).
    """
    rec = _Recorder()
    result.show(rec)
    out = []
    for t in rec.tables:
        cols = [c for c in t.columns]
        data = {_plain(c.header) or f"column {i}": [_plain(v) for v in c._cells]
                for i, c in enumerate(cols)}
        caption = _plain(t.caption)
        if partial:
            caption = f"{partial.upper()}. {caption}".strip()
        out.append(PaperTable(_plain(t.title), caption, pd.DataFrame(data)))
    return out


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters and set acakit's Unicode symbols as LaTeX."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
               "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
               "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}
    out = "".join(special.get(ch, ch) for ch in text)
    for sym, tex in LATEX_SYMBOLS.items():
        out = out.replace(sym, tex)
    return "".join(ch if ord(ch) < 128 else "?" for ch in out)


def to_latex(tables: list[PaperTable]) -> str:
    """The tables as LaTeX ``table`` floats with booktabs rules (pandas' Styler), user text
    escaped; ``\\usepackage{booktabs}`` in the preamble sets them."""
    parts = []
    for t in tables:
        df = t.frame.copy()
        df.columns = [latex_escape(str(c)) for c in df.columns]
        df = df.map(lambda v: latex_escape(str(v)))
        caption = latex_escape(f"{t.title}. {t.caption}" if t.caption else t.title)
        parts.append(df.style.hide(axis="index").to_latex(
            hrules=True, caption=caption, position_float="centering",
            column_format="l" + "r" * (len(df.columns) - 1)))
    return "\n".join(parts)


def to_markdown(tables: list[PaperTable]) -> str:
    """The tables as Markdown pipe tables, title in bold above, caption in italics below."""
    def cell(v: Any) -> str:
        text = str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
        for ch in "*_`<>[]":
            text = text.replace(ch, "\\" + ch)
        return text

    parts = []
    for t in tables:
        cols = [cell(c) for c in t.frame.columns]
        lines = [f"**{cell(t.title)}**", "", "| " + " | ".join(cols) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(cols) - 1)) + "|"]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |"
                  for row in t.frame.itertuples(index=False)]
        if t.caption:
            lines += ["", f"*{cell(t.caption)}*"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_tables(result: Any, dest: str | Path, partial: str = "") -> Path:
    """Write the terminal's tables of ``result`` to ``dest`` (``.tex`` or ``.md``)."""
    from acakit._safe import write_atomic

    dest = Path(dest)
    tables = terminal_tables(result, partial)
    if dest.suffix.lower() == ".tex":
        text = to_latex(tables)
    elif dest.suffix.lower() == ".md":
        text = to_markdown(tables)
    else:
        raise ValueError(f"--export: {dest.name!r} must end in .tex or .md for a paper table")
    write_atomic(dest, lambda t: Path(t).write_text(text, encoding="utf-8"))
    return dest
