"""The audit's report: :class:`AuditReport` (what :func:`acakit.audit.audit` measured) and its
HTML page, rendered from the package's Jinja2 template ``templates/audit.html.j2`` with
autoescaping on (every column name, class, value and file name is text, never markup) and the
package's one stylesheet ``templates/acakit.css`` inlined, so the page is one self-contained file
(plots embedded as base64 PNG, no external assets).
"""

from __future__ import annotations

import base64
import math
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from acakit.signal_columns import PROXY_THRESHOLD, SignalChoice

# The analyses and the engine are imported where they are used: importing this module (every
# ``acakit`` command registers the audit's) must not load the learning stack.


@dataclass
class AuditReport:
    """What :func:`audit` measured; :meth:`to_html` renders it.

    Attributes
    ----------
    inputs : dict
        Data path, label, sensitive columns (a list) with their minority values and favourable
        classes (lists in the same order), firm, target class, α grid, seeds, target success,
        ``actionable``/``immutable`` as given and the ``signal_columns`` the collectives set.
    results : pandas.DataFrame
        One row per cell of the planting/erasure batteries (``battery`` column).
    summary : pandas.DataFrame
        One row per battery: signal, estimates, theory and measured critical masses (0 when
        the firm reaches S* without a collective), the value at α = 0 beside the value at the
        largest α, cost.
    curves : pandas.DataFrame
        One row per (battery, α) over seeds (:func:`acakit.analyses.curves.summarize`) with both
        success conventions, accuracy and, when the summary names it, the ``interval`` method
        of ``success_lo``/``success_hi``.
    fairness : pandas.DataFrame or None
        Pareto table of the minority relabeling battery (of the first sensitive column).
    fairness_summary : dict or None
        No-action gap, gap after relabeling, relabelings needed to halve the gap (of the first
        sensitive column).
    figures : dict of str to bytes
        PNG images by name.
    configs : dict of str to str
        Each battery's config (YAML), runnable with ``acakit run`` / ``acakit fairness``.
    commands : list of str
        Shell commands that reproduce the report and its critical masses.
    seconds : float
        Wall-clock time of the audit.
    fairness_by : dict of str to dict
        Every sensitive column's relabeling battery: ``column -> {"table", "summary",
        "minority", "favorable"}`` (``fairness``/``fairness_summary`` are the first's).
    signal_choice : SignalChoice or None
        Which columns the collectives could set (:func:`select_signal_columns`).
    trivial : list of str
        Why the clean firm is trivial (:func:`acakit.metrics.trivial_firm`), one line per seed
        where it is; empty when it is not.
    warnings : list of str
        Every ``warning:`` and ``note:`` line the audit printed (the trivial-firm lines come
        from ``trivial``, :meth:`warning_lines` lists them all), shown in the report's Warnings
        section.
    """

    inputs: dict[str, Any]
    results: pd.DataFrame
    summary: pd.DataFrame
    curves: pd.DataFrame
    fairness: pd.DataFrame | None = None
    fairness_summary: dict[str, Any] | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fairness_by: dict[str, dict[str, Any]] = field(default_factory=dict)
    signal_choice: SignalChoice | None = None
    trivial: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_html(self) -> str:
        """The report as one self-contained HTML page (no external assets)."""
        return render_html(self)

    def warning_lines(self) -> list[str]:
        """Every warning the terminal shows: the audit's lines, then one per trivial-firm reason."""
        return [*self.warnings, *(trivial_line(t) for t in self.trivial)]

    def fairness_runs(self) -> dict[str, dict[str, Any]]:
        """The relabeling batteries by sensitive column (a report built by hand may only have the
        single ``fairness``/``fairness_summary`` pair)."""
        if self.fairness_by:
            return self.fairness_by
        if self.fairness is None or self.fairness_summary is None:
            return {}

        def first(key: str) -> Any:
            v = self.inputs.get(key)
            return v[0] if isinstance(v, list | tuple) else v

        return {str(first("sensitive")): {"table": self.fairness, "summary": self.fairness_summary,
                                          "minority": first("minority"),
                                          "favorable": first("favorable")}}

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path`` (folders created) and return the path."""
        from acakit._safe import atomic_open

        p = Path(path)
        with atomic_open(p, "w", encoding="utf-8") as f:  # a symlink at p is replaced, not followed
            f.write(self.to_html())
        return p



def trivial_line(reason: str) -> str:
    """The terminal's warning line for one trivial-firm reason (the report lists it too)."""
    return (f"warning: trivial firm: {reason} (numbers below say little about the collective; "
            "compare each with its α = 0 value)")


def fairness_key(col: str, sens: list[str], stem: str = "fairness") -> str:
    """``stem`` with one sensitive column, ``stem (col)`` with several (figure and config names)."""
    return stem if len(sens) == 1 else f"{stem} ({col})"


def slug(name: str) -> str:
    """A battery's name as a file stem: ``plant (weak: 1 column)`` -> ``plant_weak_1_column``.

    Examples
    --------
    >>> slug("plant (weak: 1 column)")
    'plant_weak_1_column'
    """
    s = "".join(ch if ch.isalnum() else "_" for ch in name.lower())
    return "_".join(p for p in s.split("_") if p)


def reproduce_commands(inputs: dict[str, Any], summary: pd.DataFrame,
                       configs: dict[str, str]) -> list[str]:
    """The shell commands that reproduce a report: the ``acakit audit`` line, one ``acakit plan``
    per planting battery (its α*), one ``acakit run`` / ``acakit fairness pareto`` per config.

    Parameters
    ----------
    inputs : dict
        :attr:`AuditReport.inputs`.
    summary : pandas.DataFrame
        :func:`acakit.analyses.audit.audit_summary`.
    configs : dict of str to str
        Battery name -> config YAML.

    Returns
    -------
    list of str
    """
    q = shlex.quote
    cmd = (f"acakit audit --data {q(inputs['data'])} --label {q(inputs['label'])} "
           f"--firm {q(inputs['firm'])} --target {q(inputs['target'])} "
           f"--alphas {q(','.join(f'{a:g}' for a in inputs['alphas']))} --seeds {inputs['seeds']} "
           f"--success {inputs['success']:g}")
    for col, m, f in zip(inputs["sensitive"], inputs["minority"], inputs["favorable"], strict=True):
        cmd += f" --sensitive {q(col)} --minority {q(str(m))} --favorable {q(str(f))}"
    if inputs.get("actionable") is not None:
        cmd += f" --actionable {q(','.join(inputs['actionable']))}"
    if inputs.get("immutable"):
        cmd += f" --immutable {q(','.join(inputs['immutable']))}"
    if inputs.get("drop"):
        cmd += f" --drop {q(','.join(inputs['drop']))}"
    out = [cmd]
    for d in summary.to_dict("records"):
        if d["gap Δ"] is None or pd.isna(d["gap Δ"]):
            continue
        strategy = "plant_feature_only" if "feature-only" in d["battery"] else "plant"
        extra = ""
        if strategy == "plant_feature_only":
            extra = f" --strategy plant_feature_only --kappa {d['kappa κ']!r}"
        out.append(f"acakit plan --gap {d['gap Δ']!r} --signal-mass {d['signal mass ξ']!r} "
                   f"--target {inputs['success']:g} --n-train {inputs['n_train']}{extra} --json"
                   f"   # {d['battery']}")
    for name in configs:
        fname = slug(name) + ".yaml"
        verb = "acakit fairness pareto" if name.startswith("minority relabeling") else "acakit run"
        out.append(f"{verb} {fname}   # {name} (save the config below as {fname})")
    return out


# --------------------------------------------------------------------------- HTML


@cache
def _template() -> Any:
    """The report's template, autoescaped (loaded once)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("acakit", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("audit.html.j2")


def _table(df: pd.DataFrame) -> dict[str, Any]:
    """A table for the template: header and cells as the report prints them (:func:`format_cell`)."""
    from acakit.analyses.audit import format_cell

    cols = [str(c) for c in df.columns]
    return {"head": cols,
            "rows": [[format_cell(v, c) for c, v in zip(cols, row, strict=True)]
                     for row in df.itertuples(index=False)]}


def _img(png: bytes, alt: str) -> dict[str, str]:
    return {"alt": alt, "b64": base64.b64encode(png).decode("ascii")}


def _reached(flips: float | None, error: float | None) -> dict[str, Any]:
    """How many relabelings reach a goal, for the template (``flips`` None: no budget did)."""
    if flips is None:
        return {"flips": None, "text": "no budget of the grid reached it"}
    return {"flips": f"{flips:.0f}", "error": f"{error:.3f}"}


def _fairness_view(r: AuditReport) -> list[dict[str, Any]]:
    from acakit.engine.audit_configs import FAIRNESS_ALPHA

    runs = r.fairness_runs()
    out = []
    for col, run in runs.items():
        fs = run["summary"]
        q = fs.get("quarter") or {}
        half, quarter = (_reached(fs["flips_needed"], fs["error_at_goal"]),
                         _reached(q.get("flips_needed"), q.get("error_at_goal")))
        if not fs["no_action_gap"] > 0:
            half = quarter = {"flips": None, "text": "nothing: there is no gap to cut"}
        table = run["table"].drop(columns=[c for c in ("majority_sample", "seeds")
                                           if c in run["table"].columns])
        out.append({"column": str(col), "minority": str(run["minority"]),
                    "favorable": str(run["favorable"]), "alpha": f"{FAIRNESS_ALPHA:g}",
                    "gap": f"{fs['no_action_gap']:.3f}", "error": f"{fs['no_action_error']:.3f}",
                    "quarter_goal": f"{q.get('goal', math.nan):.3f}", "quarter": quarter,
                    "half_goal": f"{fs['goal']:.3f}", "half": half,
                    "best_gap": f"{fs['best_gap']:.3f}", "best_flips": f"{fs['best_flips']:.0f}",
                    "figure": _img(r.figures[fairness_key(col, list(runs))],
                                   f"fairness Pareto frontier ({col})"),
                    "table": _table(table)})
    return out


def _signal_view(sc: SignalChoice | None, used: list[str]) -> dict[str, Any] | None:
    if sc is None:
        return None

    def why(d: dict[str, str]) -> dict[str, Any] | None:
        return _table(pd.DataFrame({"column": list(d), "why": list(d.values())})) if d else None

    source = ("the columns given with --actionable" if sc.actionable is not None else
              "every feature column except --immutable ones, the sensitive attributes and their "
              "proxies")
    return {"used": ", ".join(used) or "–", "source": source, "excluded": why(sc.excluded),
            "cautions": why(sc.cautions), "threshold": f"{PROXY_THRESHOLD:g}",
            "scores": _table(sc.scores) if len(sc.scores) else None}


def render_html(r: AuditReport) -> str:
    """:meth:`AuditReport.to_html`: the report's numbers formatted, then the template rendered."""
    from acakit.analyses.audit import band_text

    i = r.inputs
    summary = r.summary
    return _template().render(
        name=Path(i["data"]).name, firm=i["firm"], label=i["label"], classes=", ".join(i["classes"]),
        n_rows=f"{i['n_rows']:,}", n_train=f"{i['n_train']:,}", seeds=i["seeds"],
        target=str(i["target"]), success=f"{i['success']:g}", seconds=f"{r.seconds:.0f}",
        warnings=r.warning_lines(), trivial="; ".join(r.trivial),
        signal=_signal_view(r.signal_choice, i.get("signal_columns") or []),
        summary=_table(summary.drop(columns="theory note")),
        notes=[(d["battery"], d["theory note"]) for d in summary.to_dict("records") if d["theory note"]],
        figures={k: _img(r.figures[k], f"{what} vs collective size") for k, what in
                 (("planting", "planting success"), ("erasure", "erasure success"),
                  ("accuracy", "accuracy cost"))},
        band=band_text(r.curves), per_row_interval="interval" in r.curves, curves=_table(r.curves),
        fairness=_fairness_view(r), commands="\n".join(r.commands),
        configs=[(slug(name), text) for name, text in r.configs.items()])
