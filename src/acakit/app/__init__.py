"""The planner web app (``acakit app``, Streamlit; install with ``pip install 'acakit[app]'``).

Four pages, each a Streamlit script under :mod:`acakit.app.pages`, over pure functions in
:mod:`acakit.app.logic` (no Streamlit there, so the numbers are testable and equal to the
command line's: the pages call :func:`acakit.theory.planner.plan`, the estimators, the
multiple-collective bounds and :mod:`acakit.fairness`):

- *Plan from numbers*: training-set size, ξ, Δ, target success, confidence -> critical mass;
- *Plan from data*: a bundled data set or an uploaded CSV -> Δ, ξ estimates, a small simulation
  with a chosen firm, measured success beside the bounds;
- *Other collectives*: other groups (sizes or ranges, aligned or conflicting) -> the full,
  aggregate and worst-case bounds;
- *Fairness*: a minority relabeling collective -> Pareto plot and relabelings needed.

Uploaded files are written only to a temporary folder of the session and the on-disk cache is
off in the app, so nothing the user uploads is stored elsewhere or leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

#: Page scripts in menu order: (file under ``pages/``, title).
PAGES: list[tuple[str, str]] = [
    ("plan_numbers.py", "Plan from numbers"),
    ("plan_data.py", "Plan from data"),
    ("other_collectives.py", "Other collectives"),
    ("fairness.py", "Fairness"),
]


def app_dir() -> Path:
    """Folder of the app's scripts."""
    return Path(__file__).resolve().parent


def main_script() -> Path:
    """The Streamlit entry script (``streamlit run`` it, or use ``acakit app``)."""
    return app_dir() / "main.py"


def page_script(name: str) -> Path:
    """Path of one page script (``"plan_numbers.py"`` ...)."""
    return app_dir() / "pages" / name


__all__ = ["PAGES", "app_dir", "main_script", "page_script"]
