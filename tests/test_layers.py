"""The layer rule of ``shared/DESIGN.md`` ("Layout"), checked on the source's imports.

Every module under ``src/acakit`` is imported, but the scripts: ``acakit.__main__`` (importing
it runs the command line) and the planner app's Streamlit scripts, ``acakit.app.main`` and
``acakit.app.pages.*`` (importing one runs the page, which needs a Streamlit session). No module
is skipped for an optional extra: the extras are imported lazily, inside the functions that need
them. Each module's AST (the scripts' too) is read for its
imports: top-level ones and the lazy ones inside functions alike (a lazy import is still a
dependency, it only runs later). Imports under ``if TYPE_CHECKING:`` are ignored (they never
run).

Layers, bottom to top:

- **concepts**: ``data``, ``strategies``, ``collective``, ``firms``, ``metrics``, ``theory``,
  ``registry`` (DESIGN.md names these), and also ``multi``, ``fairness`` and ``steering``: each
  holds a setting's objects and pure computations (simulated collectives, group specs and
  relabel planners, feasible sets and steering strategies) built from data sets, strategies,
  firms and bounds only, with no config, store or runner; and the private helpers ``_safe``
  and ``_lazy`` (string sanitising, lazy attribute loading) that every layer may use.
- **engine**: ``acakit.engine`` (config, cells, runners, store, cache).
- **analyses**: ``acakit.analyses`` (tables and plots from a results table).
- **front-ends**: ``acakit.cli``, ``acakit.audit``, ``acakit.app`` (and ``acakit.__main__``).

Rules: a concept never imports the engine, analyses or a front-end; the engine never imports
analyses or a front-end; no module imports itself back through a circle of imports.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import acakit

SRC = Path(acakit.__file__).resolve().parent

CONCEPTS = ("data", "strategies", "collective", "firms", "metrics", "theory", "registry",
            "multi", "fairness", "steering", "signal_columns", "_safe", "_lazy")
FRONT_ENDS = ("cli", "audit", "audit_report", "app", "__main__")
#: what each layer may not import (top-level package names under ``acakit``)
FORBIDDEN = {
    "concept": ("engine", "analyses", *FRONT_ENDS),
    "engine": ("analyses", *FRONT_ENDS),
}

#: Edges known to break the rule (or to close a circle), in files outside the engine.
KNOWN: set[tuple[str, str]] = set()  # no exception: every module keeps the rule


def _modules() -> dict[str, Path]:
    """``dotted name -> source file`` of every module and package under ``src/acakit``."""
    out = {"acakit": SRC / "__init__.py"}
    for info in pkgutil.walk_packages([str(SRC)], prefix="acakit."):
        path = SRC.joinpath(*info.name.split(".")[1:])
        out[info.name] = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
    return out


MODULES = _modules()
#: Modules whose import runs a program (``python -m acakit``): parsed, not imported.
SCRIPTS = {"acakit.__main__", "acakit.app.main",
           *(m for m in MODULES if m.startswith("acakit.app.pages."))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(tree: ast.AST, module: str, is_pkg: bool) -> set[str]:
    """The ``acakit`` modules ``tree`` imports (a name imported from a package counts as its
    submodule when one of that name exists), ``if TYPE_CHECKING:`` blocks left out."""
    found: set[str] = set()
    package = module if is_pkg else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m == "acakit" or m.startswith("acakit.")}


@functools.lru_cache(maxsize=1)
def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        deps = _imported(tree, name, path.name == "__init__.py")
        graph[name] = {_known_module(d) for d in deps} - {name}
    return graph


def _known_module(name: str) -> str:
    """``name``, or its nearest enclosing module (``acakit.x.CONST`` imported as a module)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _top(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else ""


def _layer(name: str) -> str | None:
    top = _top(name)
    if top in CONCEPTS:
        return "concept"
    if top == "engine":
        return "engine"
    return None


def test_every_module_imports():
    failed = []
    for name in MODULES:
        if name in SCRIPTS:
            continue
        try:
            importlib.import_module(name)
        except Exception as e:  # pragma: no cover  (the message lists them)
            failed.append(f"{name}: {type(e).__name__}: {e}")
    assert not failed, "modules that do not import:\n" + "\n".join(failed)


def test_the_walk_sees_the_layers():
    # a walk that found nothing would pass every rule: make sure it sees each layer
    tops = {_top(m) for m in MODULES}
    assert {"data", "firms", "engine", "analyses", "cli", "audit"} <= tops
    assert "acakit.engine.runners" in MODULES
    g = _graph()
    assert "acakit.engine.store" in g["acakit.engine"] or any(
        d.startswith("acakit.engine.") for d in g["acakit.engine"])


def layer_violations(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """``(module, imported module)`` pairs that break the layer rule."""
    bad = []
    for name, deps in sorted(graph.items()):
        layer = _layer(name)
        if layer is None:
            continue
        for dep in sorted(deps):
            if _top(dep) in FORBIDDEN[layer]:
                bad.append((name, dep))
    return bad


def test_layer_rule():
    bad = [e for e in layer_violations(_graph()) if e not in KNOWN]
    assert not bad, "layer rule broken (module -> imported module):\n" + "\n".join(
        f"{a} -> {b}" for a, b in bad)


def test_the_layer_check_can_fail():
    graph = {"acakit.data.base": {"acakit.engine.config"},
             "acakit.engine.store": {"acakit.analyses.tables"},
             "acakit.analyses.tables": {"acakit.engine.store"}}
    assert layer_violations(graph) == [("acakit.data.base", "acakit.engine.config"),
                                       ("acakit.engine.store", "acakit.analyses.tables")]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules, as one circle through them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]
    edges = defaultdict(set, {k: set(v) for k, v in graph.items()})

    def strong(v: str) -> None:  # Tarjan, iterative enough for a few hundred modules
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(_circle(sorted(group), edges))
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(groups)


def _circle(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest circle from the group's first module back to it, inside the group."""
    start, members = group[0], set(group)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return path[::-1]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return group  # pragma: no cover


def test_no_import_cycles():
    graph = {k: {d for d in v if (k, d) not in KNOWN} for k, v in _graph().items()}
    cycles = find_cycles(graph)
    lines = []
    for c in cycles:  # one circle, then every import between the modules of its knot
        lines.append("circle: " + " -> ".join([*c, c[0]]))
        knot = _knot(c[0], graph)
        lines += [f"  {a} -> {b}" for a in sorted(knot) for b in sorted(graph[a] & knot)]
    assert not cycles, "import circles (module -> imported module):\n" + "\n".join(lines)


def _knot(start: str, graph: dict[str, set[str]]) -> set[str]:
    """The modules that ``start`` reaches and that reach ``start`` (its strongly connected set)."""
    def reach(edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for w in edges.get(todo.pop(), ()):
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    back: dict[str, set[str]] = defaultdict(set)
    for a, deps in graph.items():
        for b in deps:
            back[b].add(a)
    return reach(graph) & reach(back)
