"""``acakit audit``: how far can a coordinated group of users steer *your* pipeline?

:func:`audit` runs a standard battery of collectives against any scikit-learn classifier on a
CSV file of your own data and :meth:`AuditReport.to_html` writes one self-contained HTML file
(plots embedded as base64 PNG, no external assets) with a summary table, the critical masses
(theory and measured), the clean-accuracy cost, every warning the terminal showed and the exact
commands that reproduce every number.

The battery (every experiment is an ordinary acakit config, embedded in the report):

- feature-label planting (``plant``) at three signal strengths: the collective sets 1, 2 or 3
  feature columns to a rare value (see :func:`choose_signal_columns`) and labels its points
  with the target class; the columns are those the contributors can set
  (:func:`select_signal_columns`: ``--actionable`` / ``--immutable``; by default every feature
  column but the sensitive ones and their proxies, :func:`proxy_scores`), named in the report
  for the user to confirm;
- feature-only planting (``plant_feature_only``, strongest signal, members drawn from the
  target class, labels untouched);
- erasure (``erase``, strongest signal, labels set to what a reference model trained on clean
  data predicts for the signal point);
- with a sensitive column, a minority relabeling collective (:mod:`acakit.fairness`): a share
  of the minority relabels some of its own unfavourable labels; Pareto plot of error vs
  equalized-odds gap and the number of relabelings that halves the gap (one battery per
  sensitive column).

A column with a different value in every row (an id, :func:`unique_id_columns`) is left out of
the features, and said so, unless ``keep`` names it. A clean firm that is trivial on the data
(:func:`acakit.metrics.trivial_firm`: one class on >= 99% of test points, or no better than the
majority class) gets a warning box in the report and a line in the terminal, and every
battery's value without a collective (α = 0) stands beside its result.

This module is the front-end: the steps of :func:`audit` and the ``acakit audit`` command. The
work is done below it: which columns can carry a signal in :mod:`acakit.signal_columns` (a
concept), the batteries' configs in :mod:`acakit.engine.audit_configs`, the tables and figures
in :mod:`acakit.analyses.audit`, the report and its template in :mod:`acakit.audit_report`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from acakit.audit_report import AuditReport, fairness_key, reproduce_commands, trivial_line

# Re-exported (``X as X``): ``from acakit.audit import proxy_scores`` works as before the split.
from acakit.signal_columns import MAX_CATEGORIES as MAX_CATEGORIES
from acakit.signal_columns import PROXY_ROWS as PROXY_ROWS
from acakit.signal_columns import PROXY_THRESHOLD as PROXY_THRESHOLD
from acakit.signal_columns import AuditError as AuditError
from acakit.signal_columns import SignalChoice as SignalChoice
from acakit.signal_columns import _check_columns
from acakit.signal_columns import choose_signal_columns as choose_signal_columns
from acakit.signal_columns import proxy_scores as proxy_scores
from acakit.signal_columns import select_signal_columns as select_signal_columns
from acakit.signal_columns import unique_id_columns as unique_id_columns

#: Default collective sizes (fractions of the training set) of the planting batteries.
DEFAULT_ALPHAS: tuple[float, ...] = (0.0, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01)

#: Names defined in the layers below, importable from here as before (loaded on first use: every
#: ``acakit`` command imports this module to register ``audit``, and must not load scikit-learn).
_MOVED = {"STRENGTHS": "acakit.engine.audit_configs", "FAIRNESS_ALPHA": "acakit.engine.audit_configs",
          "FAIRNESS_BUDGETS": "acakit.engine.audit_configs",
          "battery_configs": "acakit.engine.audit_configs",
          "fairness_config": "acakit.engine.audit_configs",
          "ESTIMATE_ROWS": "acakit.analyses.audit", "relabelings_needed": "acakit.analyses.audit"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- what the terminal says


class _Lines:
    """The audit's lines on the console; its ``warning:`` and ``note:`` lines, and every Python or
    acakit log warning shown while it runs, are also kept for the report (:attr:`kept`)."""

    def __init__(self, console: Any) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True, markup=False)
        self.kept: list[str] = []

    def say(self, text: str) -> None:
        """A stage line (printed as it is: no markup, no highlighting)."""
        self.console.print(text, highlight=False, markup=False)

    def warn(self, text: str) -> None:
        """A ``warning: ...`` or ``note: ...`` line: printed and kept."""
        self.say(text)
        self._keep(text)

    def _keep(self, text: str) -> None:
        text = " ".join(text.split())
        if text not in self.kept:
            self.kept.append(text)

    @contextlib.contextmanager
    def collecting(self) -> Iterator[None]:
        """Keep each warning shown inside the block (shown as before: same filters, same place)."""
        lines = self

        class Log(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                lines._keep(f"warning: {record.getMessage()}")

        with warnings.catch_warnings():  # restores showwarning on exit
            shown = warnings.showwarning

            def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
                self._keep(f"warning: {str(message).splitlines()[0] if str(message) else ''}")
                shown(message, category, *args, **kwargs)

            warnings.showwarning = show
            handler = Log(logging.WARNING)
            logging.getLogger("acakit").addHandler(handler)
            try:
                yield
            finally:
                logging.getLogger("acakit").removeHandler(handler)


# --------------------------------------------------------------------------- checking the inputs


@dataclass
class _Inputs:
    """What the user asked for, checked; filled step by step as the data is read."""

    data: Path
    label: str
    firm: str
    sens: list[str]
    minorities: list[str | None]
    favorables: list[str | None]
    alphas: list[float]
    seeds: list[int]
    success: float
    test_size: float
    drop: list[str]
    keep: list[str]
    target: str = ""
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)
    act: list[str] | None = None
    imm: list[str] = field(default_factory=list)
    n_train: int = 0


def _check_options(data: str | Path, label: str, firm: str, sensitive: str | Sequence[str] | None,
                   minority: Any, favorable: Any, alphas: Sequence[float] | None, seeds: int,
                   success: float, test_size: float, drop: Sequence[str],
                   keep: Sequence[str]) -> _Inputs:
    """The options that need no data, checked in the order a user reads them."""
    from acakit.engine.config import ConfigError, check_sweep_size

    if not 0 < success < 1:
        raise AuditError(f"success: {success} is not a target success in (0, 1)")
    if seeds < 1:
        raise AuditError(f"seeds: {seeds} must be >= 1")
    alpha_list = _check_alphas(alphas if alphas is not None else DEFAULT_ALPHAS)
    try:  # counted before any list of seeds or cell is made
        check_sweep_size([("--alphas", len(alpha_list)), ("--seeds", seeds)])
    except ConfigError as e:
        raise AuditError(str(e).replace("sweep: ", "seeds: ", 1)) from None
    sens = _sensitive_list(sensitive)
    return _Inputs(Path(data).expanduser().resolve(), label, firm, sens,
                   _per_sensitive(minority, sens, "minority"),
                   _per_sensitive(favorable, sens, "favorable"), alpha_list, list(range(seeds)),
                   success, test_size, list(dict.fromkeys(str(c) for c in drop)),
                   list(dict.fromkeys(str(c) for c in keep)))


def _read_data(a: _Inputs, user_alphas: bool, lines: _Lines) -> Any:
    """Load the CSV; leave out the id columns (unless kept); size the α grid to its rows."""
    ds = _load(a.data, a.label, a.sens, a.drop)
    allowed = [str(c) for c in ds.feature_types]
    _check_columns(a.keep, allowed, "keep")
    ids = [c for c in unique_id_columns(ds.X) if c not in a.sens]
    kept, dropped = [c for c in ids if c in a.keep], [c for c in ids if c not in a.keep]
    for c in kept:
        lines.warn(f"warning: {c!r} has a different value in every row (an id?): kept as a feature "
                   "(--keep), although it lets the firm memorise rows")
    if dropped:
        lines.warn(f"warning: {', '.join(repr(c) for c in dropped)} has a different value in every "
                   "row (an id?): as a feature it would let the firm memorise rows, so it is left "
                   f"out (keep it with --keep {','.join(dropped)})")
        a.drop += dropped
        ds = _load(a.data, a.label, a.sens, a.drop)
    n_train = len(ds) - int(math.ceil(a.test_size * len(ds)))  # the split's training rows
    if not user_alphas:
        a.alphas = default_alphas(n_train)
    few = [x for x in a.alphas if 0 < x and round(x * n_train) < 2]
    if few:
        lines.warn(f"note: with {n_train:,} training rows, α = "
                   f"{', '.join(f'{x:g} ({round(x * n_train)})' for x in few)} give fewer than 2 "
                   "members (in brackets): those sizes measure (almost) no collective")
    return ds


def _check_against_data(a: _Inputs, ds: Any, actionable: Sequence[str] | None,
                        immutable: Sequence[str], target: str | None) -> None:
    """Column names first (one line, before any work), then the firm, the target, the groups."""
    allowed = [str(c) for c in ds.feature_types]
    a.act = None if actionable is None else _check_columns(actionable, allowed, "actionable")
    a.imm = _check_columns(immutable, allowed, "immutable")
    _check_firm(a.firm, ds)
    a.target = _pick_target(ds, target)
    a.groups = {col: pick_groups(ds, col, m, f)
                for col, m, f in zip(a.sens, a.minorities, a.favorables, strict=True)}


def _signal_columns(a: _Inputs, ds: Any) -> tuple[SignalChoice, list[tuple[str, Any]]]:
    """Which columns the collectives may set (:func:`select_signal_columns`) and their values."""
    choice = select_signal_columns(ds.X, ds.feature_types, ds.sensitive[a.sens] if a.sens else None,
                                   a.act, a.imm)
    signals = choose_signal_columns(ds.X, ds.feature_types, exclude=list(choice.excluded))
    if not signals:
        left = ", ".join(f"{c} ({why})" for c, why in choice.excluded.items())
        raise AuditError(f"data: {a.data.name} has no usable feature column for a signal"
                         + (f" (left out: {left}; name the columns the contributors control with "
                            "--actionable)" if left else ""))
    return choice, signals


def _battery_cells(a: _Inputs, signals: list[tuple[str, Any]]) -> tuple[dict[str, Any], list[Any],
                                                                       list[str]]:
    """Each battery's config and its cells (with the battery's name per cell), checked."""
    from acakit.engine.audit_configs import battery_configs
    from acakit.engine.config import ConfigError, check_cells_against_data, expand, parse_config

    configs = battery_configs(str(a.data), a.label, a.sens, a.firm, a.target, signals, a.alphas,
                              a.seeds, a.test_size, a.drop)
    cells: list[Any] = []
    labels: list[str] = []
    try:
        for name, raw in configs.items():
            cs = expand(parse_config(raw))
            check_cells_against_data(cs[:1])
            cells += cs
            labels += [name] * len(cs)
    except ConfigError as e:
        raise AuditError(str(e)) from None
    return configs, cells, labels


def _say_plan(lines: _Lines, a: _Inputs, ds: Any, n_cells: int, choice: SignalChoice,
              used: list[str]) -> None:
    """The stage lines before the work: what runs, on which columns."""
    from acakit.analyses.audit import ESTIMATE_ROWS

    lines.say(f"audit: {len(ds):,} rows, target class {a.target!r}, firm {a.firm}, {n_cells} cells",)
    left_out = {c: w for c, w in choice.excluded.items() if w != "not in --actionable"}
    lines.say(f"signal columns: {', '.join(used)} (confirm the contributors control them)"
              + (f"; left out: {', '.join(f'{c} ({w})' for c, w in left_out.items())}"
                 if left_out else "")
              + (f"; used as --actionable, although: "
                 f"{', '.join(f'{c} ({w})' for c, w in choice.cautions.items())}"
                 if choice.cautions else ""))
    lines.say(f"estimating Δ and ξ of each signal on the training split (up to {ESTIMATE_ROWS:,} "
              "rows)")


def _run_batteries(cells: list[Any], labels: list[str], jobs: int, progress: bool) -> pd.DataFrame:
    """Every planting/erasure cell, one row each (``battery`` names its battery)."""
    from acakit.engine.runners import CellFailedError, RunnerError
    from acakit.engine.single import run_cells

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the user's estimator
        try:
            results = run_cells(cells, jobs=jobs, progress=progress, labels=labels, cache=False,
                                fail_fast=True)
        except (CellFailedError, RunnerError) as e:
            raise AuditError(f"firm: a cell failed: {str(e).splitlines()[0]}") from None
    return results.rename(columns={"variant": "battery"})


def _relabeling_batteries(a: _Inputs, lines: _Lines, jobs: int, progress: bool,
                          figures: dict[str, bytes], configs: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The minority relabeling battery of each sensitive column (figures and configs added)."""
    from acakit.analyses.audit import run_fairness_battery
    from acakit.engine.audit_configs import fairness_config, to_yaml
    from acakit.engine.config import ConfigError

    out: dict[str, dict[str, Any]] = {}
    for col, (minority_value, favorable_class) in a.groups.items():
        lines.say(f"minority relabeling: {col} = {minority_value!r}, favourable "
                  f"{favorable_class!r} ...")
        cfg = fairness_config(str(a.data), a.label, col, minority_value, favorable_class, a.firm,
                              a.seeds, a.test_size, a.drop)
        try:
            table, summary, png = run_fairness_battery(cfg, jobs, progress)
        except ConfigError as e:
            raise AuditError(str(e)) from None
        out[col] = {"table": table, "summary": summary, "minority": minority_value,
                    "favorable": favorable_class}
        figures[fairness_key(col, a.sens)] = png
        configs[fairness_key(col, a.sens, "minority relabeling")] = to_yaml(cfg)
    return out


# --------------------------------------------------------------------------- running


def audit(data: str | Path, label: str, firm: str, *, sensitive: str | Sequence[str] | None = None,
          target: str | None = None, minority: str | Sequence[str | None] | None = None,
          favorable: str | Sequence[str | None] | None = None,
          actionable: Sequence[str] | None = None, immutable: Sequence[str] = (),
          alphas: Sequence[float] | None = None, seeds: int = 2, success: float = 0.9, jobs: int = 1,
          test_size: float = 0.3, progress: bool = True, console: Any = None,
          drop: Sequence[str] = (), keep: Sequence[str] = ()) -> AuditReport:
    """Run the audit battery against a firm on a CSV file.


    Parameters
    ----------
    data : str or Path
        CSV file with a header row.
    label : str
        Label column.
    firm : str
        A dotted path to a scikit-learn classifier (``sklearn.linear_model.LogisticRegression``)
        or an acakit firm name; fitted behind acakit's featurizer (one-hot + standardised).
    sensitive : str or sequence of str, optional
        Sensitive column(s): each adds a minority relabeling battery; they and their proxies
        are left out of the signal unless ``actionable`` names them.
    target : str, optional
        Target class of the planting collectives (default: the rarer class).
    minority : str or sequence, optional
        Minority value of each sensitive column (default: its least frequent value); one value
        for every column, or one per column in the order of ``sensitive``.
    favorable : str or sequence, optional
        Favourable class (default: the class the majority gets more often than the minority);
        one for every sensitive column or one per column.
    actionable : sequence of str, optional
        The feature columns the contributors control: the signal uses only these (default:
        every feature column but ``immutable``, the sensitive columns and their proxies, see
        :func:`select_signal_columns`).
    immutable : sequence of str, default=()
        Feature columns the contributors cannot change (never in the signal).
    alphas : sequence of float, optional
        Collective sizes (fractions of the training set). Default: :func:`default_alphas` of
        the training set's size (at least 2 members at the smallest size); sizes that give
        fewer than 2 members are named in a line.
    seeds : int, default=2
        Seeds (splits and draws) pooled per α.
    success : float, default=0.9
        Target success S* of the critical masses.
    jobs : int, default=1
        Worker processes.
    test_size : float, default=0.3
    progress : bool, default=True
        Show progress bars.
    console : rich.console.Console, optional
        Where stage lines go (default: stderr).
    drop : sequence of str, default=()
        Columns of the CSV that are no feature (an id, free text).
    keep : sequence of str, default=()
        Columns with a different value in every row (an id?) to keep as features; every other
        such column is left out, with a warning.

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditError
        A malformed CSV, a missing column, an estimator path that does not import, an unknown
        class or value, an impossible α or success, an ``actionable``/``immutable`` name that is
        not a feature column (one line naming the problem).
    """
    import acakit.analyses.audit as measured  # the tables and figures
    from acakit.engine.audit_configs import STRENGTHS, to_yaml

    t0 = time.perf_counter()
    lines = _Lines(console)
    a = _check_options(data, label, firm, sensitive, minority, favorable, alphas, seeds, success,
                       test_size, drop, keep)
    with lines.collecting():
        ds = _read_data(a, alphas is not None, lines)
        _check_against_data(a, ds, actionable, immutable, target)
        choice, signals = _signal_columns(a, ds)
        configs, cells, labels = _battery_cells(a, signals)
        used = list(dict.fromkeys(c for c, _ in signals[:max(STRENGTHS.values())]))
        _say_plan(lines, a, ds, len(cells), choice, used)
        estimates, a.n_train = measured.estimate_batteries(
            configs, {n: cells[labels.index(n)] for n in configs}, ds, test_size, a.seeds[0], success,
            progress, lines.console)
        results = _run_batteries(cells, labels, jobs, progress)
        trivial = measured.trivial_reasons(results, ds, firm, a.seeds, test_size)
        curves = measured.audit_curves(results)
        summary = measured.audit_summary(configs, estimates, curves, success)
        figures = measured.audit_figures(curves, estimates, configs, trivial)
        texts = {name: to_yaml(raw) for name, raw in configs.items()}
        fairness_by = _relabeling_batteries(a, lines, jobs, progress, figures, texts)
    inputs = _inputs_of(a, ds, seeds, used)
    first_fair = fairness_by[a.sens[0]] if fairness_by else {}
    return AuditReport(inputs, results, summary, curves, first_fair.get("table"),
                       first_fair.get("summary"), figures, texts,
                       reproduce_commands(inputs, summary, texts), time.perf_counter() - t0,
                       fairness_by, choice, trivial, lines.kept)


def _inputs_of(a: _Inputs, ds: Any, seeds: int, used: list[str]) -> dict[str, Any]:
    """:attr:`AuditReport.inputs`."""
    return {"data": str(a.data), "label": a.label, "sensitive": a.sens, "firm": a.firm,
            "target": a.target, "alphas": a.alphas, "seeds": seeds, "success": a.success,
            "n_rows": len(ds), "n_train": a.n_train, "test_size": a.test_size,
            "minority": [g[0] for g in a.groups.values()],
            "favorable": [g[1] for g in a.groups.values()], "actionable": a.act,
            "immutable": a.imm, "signal_columns": used, "drop": a.drop, "keep": a.keep,
            "classes": list(map(str, ds.classes))}


# --------------------------------------------------------------------------- validation


def _load(data: str | Path, label: str, sensitive: Sequence[str], drop: Sequence[str] = ()) -> Any:
    from acakit.data import load_csv

    try:
        ds = load_csv(data, label, list(sensitive), drop=list(drop))
    except ValueError as e:
        raise AuditError(str(e).splitlines()[0]) from None
    if ds.kind != "tabular" or not isinstance(ds.X, pd.DataFrame) or ds.X.shape[1] == 0:
        raise AuditError(f"data: {Path(data).name} has no feature column besides {label!r}")
    return ds


def _check_firm(firm: str, ds: Any) -> None:
    from acakit.firms import check_firm_name, make_firm

    try:
        check_firm_name(firm)
        est = make_firm(firm, ds)
    except ValueError as e:
        raise AuditError(str(e).splitlines()[0]) from None
    model = est.steps[-1][1] if hasattr(est, "steps") else est
    for verb in ("fit", "predict"):
        if not callable(getattr(model, verb, None)):
            raise AuditError(f"firm: {firm!r} is not a classifier (it has no {verb} method)")


def _pick_target(ds: Any, target: str | None) -> str:
    if target is not None:
        try:
            return ds.classes[ds.class_index(target)]
        except ValueError as e:
            raise AuditError(f"target: {str(e).splitlines()[0]}") from None
    counts = np.bincount(np.asarray(ds.y), minlength=ds.n_classes)
    return str(ds.classes[int(np.argmin(counts))])  # the rarer outcome: the harder one to force


def pick_groups(ds: Any, sensitive: str, minority: str | None = None,
                favorable: str | None = None) -> tuple[str, str]:
    """Minority value (default: the rarest of ``sensitive``) and favourable class (default: the
    class the majority gets more often than the minority), checked against the data."""
    a = ds.sensitive[sensitive].astype(str).reset_index(drop=True)
    values = a.value_counts()
    if len(values) < 2:
        raise AuditError(f"sensitive: column {sensitive!r} has {len(values)} distinct value(s); need >= 2")
    if minority is None:
        minority = str(values.index[-1])
    elif str(minority) not in values.index:
        raise AuditError(f"minority: {minority!r} does not occur in column {sensitive!r}; values: "
                         + ", ".join(map(str, values.index[:20])))
    y = np.asarray(ds.y)
    if favorable is None:
        is_min = (a == str(minority)).to_numpy()
        rate_min = np.bincount(y[is_min], minlength=ds.n_classes) / max(is_min.sum(), 1)
        rate_maj = np.bincount(y[~is_min], minlength=ds.n_classes) / max((~is_min).sum(), 1)
        favorable = str(ds.classes[int(np.argmax(rate_maj - rate_min))])
    else:
        try:
            favorable = str(ds.classes[ds.class_index(favorable)])
        except ValueError as e:
            raise AuditError(f"favorable: {str(e).splitlines()[0]}") from None
    return str(minority), favorable


#: Member counts of the default grid on a small file (where DEFAULT_ALPHAS gives < 2 members).
SMALL_DATA_COUNTS: tuple[int, ...] = (2, 3, 5, 10, 20, 50, 100)


def default_alphas(n_train: int) -> list[float]:
    """The default α grid for ``n_train`` training rows: :data:`DEFAULT_ALPHAS` where its smallest
    size still gives at least 2 members, else the sizes of 2, 3, 5, 10, 20, 50 and 100 members
    (at most 20% of the training set), after 0.

    Examples
    --------
    >>> default_alphas(100_000) == list(DEFAULT_ALPHAS)
    True
    >>> [round(a * 280) for a in default_alphas(280)]
    [0, 2, 3, 5, 10, 20, 50]
    """
    smallest = min(a for a in DEFAULT_ALPHAS if a > 0)
    if n_train * smallest >= 2:
        return list(DEFAULT_ALPHAS)
    return [0.0] + [c / n_train for c in SMALL_DATA_COUNTS if c / n_train <= 0.2]


def _check_alphas(alphas: Sequence[float]) -> list[float]:
    out = sorted({float(a) for a in alphas})
    if not out:
        raise AuditError("alphas: give at least one collective size")
    for a in out:
        if not 0.0 <= a <= 1.0 or math.isnan(a):
            raise AuditError(f"alphas: {a} is not a fraction of the training set in [0, 1]")
    return out


def _sensitive_list(sensitive: str | Sequence[str] | None) -> list[str]:
    out = [] if sensitive is None else [sensitive] if isinstance(sensitive, str) else list(sensitive)
    for i, col in enumerate(out):
        if col in out[:i]:
            raise AuditError(f"sensitive: column {col!r} is given twice")
    return out


def _per_sensitive(value: str | Sequence[str | None] | None, sens: Sequence[str],
                   option: str) -> list[str | None]:
    """One ``--minority`` / ``--favorable`` per sensitive column: none, one for all, or paired."""
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    if values and not sens:
        raise AuditError(f"{option}: given without --sensitive")
    if not values:
        return [None] * len(sens)
    if len(values) == 1:
        return values * len(sens)
    if len(values) != len(sens):
        raise AuditError(f"{option}: given {len(values)} times for {len(sens)} --sensitive columns; "
                         "give it once (for every column) or once per --sensitive, in the same order")
    return values


# --------------------------------------------------------------------------- command line


def register(app: typer.Typer) -> None:
    """Add the ``audit`` command to the acakit app."""

    @app.command(name="audit")
    def audit_cmd(
        data: Annotated[Path, typer.Option("--data", help="Your data: a CSV file with a header row.")],
        label: Annotated[str, typer.Option("--label", help="The label column.")],
        firm: Annotated[str, typer.Option(
            "--firm", help="Your estimator: a dotted path (sklearn.linear_model.LogisticRegression) "
                           "or an acakit firm name.")],
        sensitive: Annotated[list[str] | None, typer.Option(
            "--sensitive", help="Sensitive column: adds a minority relabeling collective; it and its "
                                "proxies stay out of the signal (repeatable: each is audited).")] = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="The HTML report.")] = Path("audit.html"),
        target: Annotated[str | None, typer.Option(
            "--target", help="Target class of the planting collectives (default: the rarer).")] = None,
        minority: Annotated[list[str] | None, typer.Option(
            "--minority", help="Minority value of --sensitive (default: its rarest); with several "
                               "--sensitive, once per column in the same order.")] = None,
        favorable: Annotated[list[str] | None, typer.Option(
            "--favorable", help="Favourable class (default: the one the majority gets more); once, "
                                "or once per --sensitive.")] = None,
        actionable: Annotated[list[str] | None, typer.Option(
            "--actionable", help="Comma-separated feature columns the contributors control: the "
                                 "signal uses only these (default: all but sensitive columns, their "
                                 "proxies and --immutable).")] = None,
        immutable: Annotated[list[str] | None, typer.Option(
            "--immutable", help="Comma-separated feature columns the contributors cannot change.")] = None,
        alphas: Annotated[str | None, typer.Option(
            "--alphas", help="Collective sizes, comma-separated fractions of the training set "
                             "(default: sized to the data, at least 2 members at the smallest).")
            ] = None,
        drop: Annotated[list[str] | None, typer.Option(
            "--drop", help="Comma-separated columns that are no feature (an id, free text).")
            ] = None,
        keep: Annotated[list[str] | None, typer.Option(
            "--keep", help="Comma-separated columns to keep as features although they have a "
                           "different value in every row (an id is left out otherwise).")] = None,
        seeds: Annotated[int, typer.Option("--seeds", help="Seeds pooled per size.")] = 2,
        success: Annotated[float, typer.Option("--success", help="Target success S*.")] = 0.9,
        jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (-1: all cores).")] = -1,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
        allow_module: Annotated[list[str] | None, typer.Option(
            "--allow-module", help="Also allow --firm classes from this package (repeatable; "
                                   "see SECURITY.md).")] = None,
    ) -> None:
        """Audit your own pipeline: how much can a collective of users steer it? One HTML report."""
        from acakit.cli import check_output_file, console, err_console, fail, write_error
        from acakit.firms import allow_modules

        try:
            grid = None if alphas is None else [float(a) for a in alphas.split(",") if a.strip()]
        except ValueError:
            raise fail(f"alphas: {alphas!r} is not a comma-separated list of numbers") from None
        try:
            allow_modules(*(allow_module or []))
        except ValueError as e:
            raise fail(str(e)) from None
        check_output_file(out, "--out")
        try:
            report = audit(data, label, firm, sensitive=sensitive or None, target=target,
                           minority=minority or None, favorable=favorable or None,
                           actionable=None if actionable is None else _split_names(actionable),
                           immutable=_split_names(immutable or []), alphas=grid, seeds=seeds,
                           success=success, jobs=jobs, progress=not quiet, console=err_console,
                           drop=_split_names(drop or []), keep=_split_names(keep or []))
        except AuditError as e:
            raise fail(str(e).splitlines()[0]) from None
        try:
            path = report.write(out)
        except OSError as e:  # a full disk: one line naming the file (it keeps what it held)
            raise fail(write_error(e, out)) from None
        _show(report, console)
        console.print(f"wrote {path} ({report.seconds:.0f} s)", highlight=False, markup=False)


def _split_names(values: Sequence[str]) -> list[str]:
    """``--actionable a,b --actionable c`` -> ``["a", "b", "c"]``."""
    return [n.strip() for v in values for n in v.split(",") if n.strip()]


def _show(report: AuditReport, console: Any) -> None:
    """The terminal's summary: the trivial-firm warnings, the table, the relabeling lines."""
    from rich.text import Text

    from acakit.analyses.audit import format_cell
    from acakit.analyses.tables import fitting_table

    prefix = "warning: trivial firm: "
    for line in report.trivial:
        console.print(Text.assemble((prefix, "bold red"), trivial_line(line).removeprefix(prefix)),
                      highlight=False)
    notes = [f"{d['battery']}: {d['theory note']}" for d in report.summary.to_dict("records")
             if isinstance(d.get("theory note"), str) and d["theory note"]]
    t = fitting_table(Text(f"audit: {report.inputs['firm']}, S* = {report.inputs['success']:g}"),
                      caption=Text("theory α*: Hardt et al.'s lower bound, for a Bayes-optimal "
                                   "firm (ε = 0) with Δ and ξ estimated from the data"
                                   + "".join(f"\n{n}" for n in notes)))
    cols = ["battery", "theory α* (bound)", "measured α (all test points)",
            "success at α = 0 (no collective)", "success at largest α", "max accuracy cost (pp)"]
    cols = [c for c in cols if c in report.summary.columns]
    for c in cols:
        t.add_column(c, justify="left" if c == "battery" else "right")
    for d in report.summary.to_dict("records"):
        t.add_row(*[Text(format_cell(d[c], c)) for c in cols])
    console.print(t)
    for col, run in report.fairness_runs().items():
        fs = run["summary"]
        need = "not reached" if fs["flips_needed"] is None else f"{fs['flips_needed']:.0f}"
        if not fs["no_action_gap"] > 0:
            need = "none (no gap without action)"
        console.print(f"minority relabeling ({col} = {run['minority']}): EO gap "
                      f"{fs['no_action_gap']:.3f} without action; relabelings to halve it: {need}",
                      highlight=False, markup=False)
