"""One plotting style for every figure acakit draws.

- **Legends never hide data**: a legend of at most :data:`MAX_INSIDE` entries goes inside the
  axes where it covers no plotted point (matplotlib's ``best``, then checked); otherwise, and
  whenever it would cover one, it goes outside, to the right of the axes. Entries are short
  labels of what varies (:func:`short_label`), never a dict's repr.
- **Accuracy is drawn on a span a reader can judge**: :func:`accuracy_limits` never zooms an
  accuracy axis below :data:`MIN_ACCURACY_SPAN` (a flat 0.981-0.985 is drawn flat, not as a cliff).
- **Flags travel with the figure**: :func:`note` writes a footnote under the axes (a trivial
  firm, how the bands were made).
- :func:`layout_problems` lists what a reader would trip on in a drawn figure: a legend over a
  data point, texts that overlap; the tests run it over every figure.

Nothing here imports matplotlib at import time.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

#: Legends with more entries than this go outside the axes.
MAX_INSIDE = 4
#: A figure's axes keep at least this share of its width (per column of panels).
MIN_AXES_SHARE = 0.5
#: A legend label longer than its line is wrapped onto at most this many lines.
MAX_LABEL_LINES = 3
#: The smallest range an accuracy axis shows.
MIN_ACCURACY_SPAN = 0.2
#: Called as ``check(fig, path)`` on every figure just before it is written
#: (:func:`acakit.analyses.curves.save_figure`); the tests append :func:`layout_problems` checks.
FIGURE_CHECKS: list[Callable[[Any, Any], None]] = []


def short_label(value: Any, max_len: int = 40) -> str:
    """A legend entry for a varied value: ``k=v`` pairs for a mapping, the value otherwise.

    Examples
    --------
    >>> short_label({"name": "isolation_forest", "params": {"contamination": 0.05}}, max_len=60)
    'name=isolation_forest, contamination=0.05'
    >>> short_label(0.333333333)
    '0.3333'
    """
    def flat(v: Any, prefix: str = "") -> Iterable[str]:
        if isinstance(v, Mapping):
            for k, x in v.items():
                yield from flat(x, "" if k == "params" else f"{k}=")
        elif isinstance(v, float):
            yield f"{prefix}{v:.4g}"
        elif isinstance(v, list | tuple):
            yield f"{prefix}[{', '.join(short_label(x, max_len) for x in v)}]"
        else:
            yield f"{prefix}{v}"

    text = ", ".join(flat(value))
    if len(text) <= max_len:
        return text
    # Wrapped, never cut: two labels that differ only at their end must not look alike.
    import textwrap

    lines = textwrap.wrap(text, max_len, break_long_words=False, break_on_hyphens=False)
    if len(lines) > MAX_LABEL_LINES:
        lines = [*lines[: MAX_LABEL_LINES - 1], " ".join(lines[MAX_LABEL_LINES - 1:])]
    return "\n".join(lines)


def line_styles(n: int, colors: Sequence[str]) -> list[tuple[str, str]]:
    """``n`` distinct (colour, marker) pairs: the colour cycle first, then the same colours with
    the next marker, so a figure with more lines than colours never draws two alike."""
    markers = "osD^v<>Px*"
    return [(colors[i % len(colors)], markers[(i // len(colors)) % len(markers)])
            for i in range(n)]


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders the numbers inside labels by value (``count=5`` before
    ``count=20``).

    Examples
    --------
    >>> sorted(["count=20", "count=5", "count=1"], key=natural_key)
    ['count=1', 'count=5', 'count=20']
    """
    import re

    parts = re.split(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)", text)
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts) if p)


def accuracy_limits(values: Sequence[float] | np.ndarray,
                    min_span: float = MIN_ACCURACY_SPAN) -> tuple[float, float]:
    """Limits of an accuracy axis: the data's range widened to at least ``min_span`` (centred,
    kept within [0, 1]).

    Examples
    --------
    >>> [round(v, 3) for v in accuracy_limits([0.9812, 0.985])]
    [0.8, 1.0]
    >>> accuracy_limits([0.2, 0.9])
    (0.165, 0.935)
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    if hi - lo >= min_span:
        pad = 0.05 * (hi - lo)
        return round(max(0.0, lo - pad), 4), round(min(1.0, hi + pad), 4)
    mid = (lo + hi) / 2
    lo, hi = mid - min_span / 2, mid + min_span / 2
    if lo < 0:
        lo, hi = 0.0, min_span
    if hi > 1:
        lo, hi = 1.0 - min_span, 1.0
    return lo, hi


#: The note every figure written now carries ("partial: 42 of 189 cells"; "" for none).
_PARTIAL = contextvars.ContextVar("acakit_partial_note", default="")


@contextlib.contextmanager
def partial_note(text: str) -> Iterator[None]:
    """While active, every figure :func:`acakit.analyses.curves.save_figure` writes carries
    ``text`` (a run's "partial: k of n cells") as a red note under it."""
    token = _PARTIAL.set(text)
    try:
        yield
    finally:
        _PARTIAL.reset(token)


#: What a figure of a one-seed run says at its top (its bands, if any, are within one run).
ONE_SEED = "1 seed, no interval over seeds (who joins, the split, training)"
_SEEDS = contextvars.ContextVar("acakit_seeds_note", default="")


@contextlib.contextmanager
def seeds_note(n_seeds: int | None) -> Iterator[None]:
    """While active, every figure :func:`acakit.analyses.curves.save_figure` writes says
    :data:`ONE_SEED` at its top when the run has ``n_seeds == 1``."""
    token = _SEEDS.set(ONE_SEED if n_seeds == 1 else "")
    try:
        yield
    finally:
        _SEEDS.reset(token)


def mark_run_notes(fig: Any) -> None:
    """Add the active run notes to the top of ``fig``: the partial note (:func:`partial_note`,
    red) and the one-seed note (:func:`seeds_note`), one line each."""
    from matplotlib.transforms import ScaledTranslation

    lines = [(t, style) for t, style in
             ((_SEEDS.get(), {"color": "dimgrey"}),
              (f"{_PARTIAL.get()} — not the whole grid" if _PARTIAL.get() else "",
               {"color": "red", "fontweight": "bold"})) if t]
    for i, (text, style) in enumerate(lines):
        shift = ScaledTranslation(0, i * 11 / 72, fig.dpi_scale_trans)
        fig.text(0.5, 1.0, text, ha="center", va="bottom", fontsize="small",
                 transform=fig.transFigure + shift, **style)


#: The figure styles :func:`figure_style` knows: name -> what it does (for help and errors).
STYLES = {"default": "acakit's screen figures (PNG and SVG at their drawn size)",
          "paper": "one column of a two-column paper: 3.4 in wide, print-sized fonts, vector PDF "
                   "beside each PNG (acakit/configs/paper.mplstyle)"}
#: Width of one column of a two-column paper (inches): the width of every figure under "paper".
COLUMN_WIDTH = 3.4
_STYLE = contextvars.ContextVar("acakit_figure_style", default="default")


@contextlib.contextmanager
def figure_style(name: str | None) -> Iterator[None]:
    """Draw and write every figure inside the block in a style of :data:`STYLES`.

    ``paper`` applies the style sheet ``acakit/configs/paper.mplstyle`` (font sizes, line
    widths, 300 dpi, TrueType fonts in PDFs), and
    :func:`acakit.analyses.curves.save_figure` then scales each figure to
    :data:`COLUMN_WIDTH` (keeping its aspect) and writes a vector PDF beside what it writes.

    Raises
    ------
    ValueError
        ``--style: ...`` for a name not in :data:`STYLES`.
    """
    name = name or "default"
    if name not in STYLES:
        raise ValueError(f"--style: {name!r} is not one of {', '.join(STYLES)}")
    if name == "default":
        yield
        return
    from importlib import resources

    import matplotlib.pyplot as plt

    sheet = resources.files("acakit").joinpath("configs", f"{name}.mplstyle")
    token = _STYLE.set(name)
    try:
        with resources.as_file(sheet) as path, plt.style.context(str(path)):
            yield
    finally:
        _STYLE.reset(token)


def styled_for_print(fig: Any, formats: Sequence[str]) -> tuple[str, ...]:
    """Apply the active :func:`figure_style` to a finished figure: under ``paper``, scale it to
    one column's width and add ``pdf`` to ``formats``; returns the formats to write."""
    if _STYLE.get() != "paper":
        return tuple(formats)
    import textwrap

    w, h = fig.get_size_inches()
    fig.set_size_inches(COLUMN_WIDTH, h * COLUMN_WIDTH / w)
    for ax in fig.axes:  # an axis label longer than its axis, wrapped to fit it
        box = ax.get_position()
        for label, span in ((ax.yaxis.label, box.height * h * COLUMN_WIDTH / w),
                            (ax.xaxis.label, box.width * COLUMN_WIDTH)):
            text = label.get_text()
            chars = max(12, int(span * 72 / (0.55 * label.get_fontsize())))
            if text and any(len(line) > chars for line in text.splitlines()):
                label.set_text("\n".join(textwrap.fill(line, chars)
                                         for line in text.splitlines()))
    return tuple(dict.fromkeys([*formats, "pdf"]))


def run_checks(fig: Any, where: Any) -> None:
    """Show ``fig`` to every check of :data:`FIGURE_CHECKS` (every figure writer calls this)."""
    for check in FIGURE_CHECKS:
        check(fig, where)


def _points(ax: Any) -> np.ndarray:
    """Display coordinates of every plotted point (line vertices, scatter markers) of ``ax``
    that lies inside the axes (clipped points are not drawn)."""
    pts = []
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        xy = np.column_stack([np.asarray(line.get_xdata(), float),
                              np.asarray(line.get_ydata(), float)])
        if len(xy):
            pts.append(line.get_transform().transform(xy))
    for coll in ax.collections:
        if type(coll).__name__ == "PathCollection" and coll.get_visible():
            off = np.asarray(coll.get_offsets(), float)
            if len(off):
                pts.append(coll.get_offset_transform().transform(off))
    if not pts:
        return np.zeros((0, 2))
    out = np.vstack(pts)
    out = out[np.isfinite(out).all(axis=1)]
    box = ax.get_window_extent()
    inside = ((out[:, 0] >= box.x0 - 0.5) & (out[:, 0] <= box.x1 + 0.5)
              & (out[:, 1] >= box.y0 - 0.5) & (out[:, 1] <= box.y1 + 0.5))
    return out[inside]


def _covers(box: Any, p: np.ndarray) -> bool:
    return bool(len(p) and ((p[:, 0] >= box.x0) & (p[:, 0] <= box.x1) & (p[:, 1] >= box.y0)
                            & (p[:, 1] <= box.y1)).any())


def _siblings(ax: Any) -> list[Any]:
    """Axes drawn in the same box as ``ax`` (a ``twinx`` axis and ``ax`` itself)."""
    box = ax.get_position().bounds
    return [a for a in ax.figure.axes if np.allclose(a.get_position().bounds, box)]


def legend_covers_data(legend: Any, renderer: Any = None) -> bool:
    """Whether a drawn legend's box covers a plotted point of its axes (or of axes sharing its
    box)."""
    ax = legend.axes
    fig = ax.figure
    renderer = renderer or fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    return any(_covers(box, _points(a)) for a in _siblings(ax))


def place_legend(ax: Any, handles: Sequence[Any] | None = None, labels: Sequence[str] | None = None,
                 title: str | None = None, max_inside: int = MAX_INSIDE, **kw: Any) -> Any:
    """Add a legend that hides no data: inside where it covers no point and has at most
    ``max_inside`` entries, else outside to the right of the axes. Returns the legend (None
    without entries).

    Save the figure with :func:`acakit.analyses.curves.save_figure` (``bbox_inches="tight"``) so
    an outside legend is kept whole.
    """
    if handles is None or labels is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    kw.setdefault("fontsize", "small")
    if len(handles) <= max_inside:
        leg = ax.legend(handles, labels, title=title, loc="best", **kw)
        ax.figure.canvas.draw()
        if not legend_covers_data(leg):
            return leg
        leg.remove()
    leg = ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                    borderaxespad=0.0, frameon=False, **kw)
    leg._acakit_outside = True  # tight_layout (see :func:`tight_layout`) leaves room for the axes
    return leg


def tight_layout(fig: Any) -> None:
    """``fig.tight_layout()`` that keeps the axes their width: legends placed outside the axes
    of the last column by :func:`place_legend` are left out of the layout (the figure is saved
    with ``bbox_inches="tight"``, which grows it to hold them) instead of shrinking the axes;
    legends beside inner panels keep their room."""
    def last_column(ax: Any) -> bool:
        spec = ax.get_subplotspec()
        return spec is None or spec.colspan.stop == spec.get_gridspec().ncols

    # only the legends right of the last column of panels: one beside an inner panel must keep
    # its room, or the next panel is drawn over it
    outside = [leg for ax in fig.axes if (leg := ax.get_legend()) is not None
               and getattr(leg, "_acakit_outside", False) and leg.get_visible()
               and last_column(ax)]
    for leg in outside:
        leg.set_visible(False)
    try:
        fig.tight_layout()
    finally:
        for leg in outside:
            leg.set_visible(True)


def alpha_axis(ax: Any, alphas_pct: Sequence[float] | np.ndarray) -> None:
    """An α axis (in %): symmetric-log when the sizes span more than a factor 20, with a tick
    at each size of the grid whose label has room (no two labels overlap). Realised sizes are
    labelled to 3 significant digits (0.0505449 -> 0.0505), and sizes that agree to that many
    digits share one tick."""
    a = np.asarray(alphas_pct, dtype=float)
    a = np.sort(np.unique([float(f"{v:.3g}") for v in a[np.isfinite(a)]]))
    positive = a[a > 0]
    if len(positive) and positive.max() / positive.min() > 20:
        ax.set_xscale("symlog", linthresh=float(positive.min()))
        from matplotlib.ticker import NullLocator

        ax.set_xticks(a, [f"{v:g}" for v in a])
        ax.xaxis.set_minor_locator(NullLocator())
        if a[0] == 0:  # no empty negative half: the axis starts just left of α = 0
            ax.set_xlim(left=-0.3 * float(positive.min()))
        thin_ticks(ax)


def thin_ticks(ax: Any, axis: str = "x") -> None:
    """Hide tick labels that would overlap the previous shown one (left to right)."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ticks = (ax.xaxis if axis == "x" else ax.yaxis).get_major_ticks()
    last = None
    for tick in ticks:
        label = tick.label1
        if not label.get_visible() or not label.get_text():
            continue
        box = label.get_window_extent(renderer)
        if last is not None and (box.x0 < last.x1 + 2 if axis == "x" else box.y0 < last.y1 + 2):
            label.set_visible(False)
            continue
        last = box


def note(fig: Any, text: str, y: float = -0.01) -> Any:
    """A footnote under the figure (kept by ``bbox_inches="tight"``), e.g. a flag on the data."""
    return fig.text(0.01, y, text, ha="left", va="top", fontsize="x-small", wrap=True)


def _texts(fig: Any) -> list[Any]:
    """Every drawn, non-empty text of a figure (titles, labels, the tick labels inside the view
    limits, legend entries, annotations), each once."""
    ticks: dict[int, Any] = {}
    drawn: dict[int, Any] = {}
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            tol = 1e-9 * max(1.0, abs(hi - lo))
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                for label in (tick.label1, tick.label2):
                    ticks[id(label)] = label
                    if (label.get_visible() and label.get_text().strip()
                            and lo - tol <= tick.get_loc() <= hi + tol):
                        drawn[id(label)] = label
    for t in fig.findobj(lambda o: type(o).__name__ in ("Text", "Annotation")):
        if id(t) in ticks:
            continue
        if t.get_visible() and t.get_text().strip() and t.get_figure() is not None:
            drawn[id(t)] = t
    return list(drawn.values())


def layout_problems(fig: Any) -> list[str]:
    """What a reader would trip on in a figure: a legend covering a plotted point, two texts
    that overlap (each described in one line; empty when the figure is clean).

    Tick labels of one axis are compared with each other too (crowded ticks overlap); a text
    inside a legend is compared only with texts outside that legend.
    """
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems = []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None and leg.get_visible() and legend_covers_data(leg, renderer):
            problems.append(f"legend of axes {ax.get_title()!r} covers a data point")
    for leg in fig.legends:
        box = leg.get_window_extent(renderer)
        for ax in fig.axes:
            if _covers(box, _points(ax)):
                problems.append(f"figure legend covers a data point of {ax.get_title()!r}")
    width = fig.get_size_inches()[0] * fig.dpi
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        if spec is None or not ax.get_visible() or not ax.has_data() or ax.get_label() == "<colorbar>":
            continue
        share = ax.get_window_extent(renderer).width / width
        if share < MIN_AXES_SHARE / spec.get_gridspec().ncols:
            problems.append(f"axes {ax.get_title()!r} squeezed to {share:.0%} of the figure's width "
                            "(a legend or a label took the rest)")
    texts = _texts(fig)
    owner = {}
    for leg in [*(a.get_legend() for a in fig.axes), *fig.legends]:
        if leg is not None:
            for t in [*leg.get_texts(), leg.get_title()]:
                owner[id(t)] = id(leg)
    boxes = []
    for t in texts:
        try:
            b = t.get_window_extent(renderer)
        except Exception:  # pragma: no cover - a text that cannot be laid out
            continue
        if b.width > 0 and b.height > 0:
            boxes.append((t, b))
    for i, (t1, b1) in enumerate(boxes):
        for t2, b2 in boxes[i + 1:]:
            o1, o2 = owner.get(id(t1)), owner.get(id(t2))
            if o1 is not None and o1 == o2:
                continue
            # overlap by more than a pixel each way (touching boxes are fine)
            if (min(b1.x1, b2.x1) - max(b1.x0, b2.x0) > 1
                    and min(b1.y1, b2.y1) - max(b1.y0, b2.y0) > 1):
                problems.append(f"texts overlap: {t1.get_text()[:30]!r} and {t2.get_text()[:30]!r}")
    return problems
