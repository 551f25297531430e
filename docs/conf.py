"""Sphinx configuration of the acakit site (``sphinx-build -W docs docs/_build/html``).

Offline by design: no intersphinx, no remote images or scripts (MathJax is served from the
build by ``sphinx-mathjax-offline``; sphinx-gallery's timing page loses its CDN DataTables);
the gallery runs the scripts of ``examples/gallery`` on small synthetic data and on bundled
real data cut to a size the build can afford (each under about 15 s on 2 cores).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import acakit  # noqa: E402

project = "acakit"
author = "acakit developers"
copyright = "acakit developers"
release = acakit.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 from the build (_static/mathjax), not from a CDN
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/README.md"]
templates_path = ["_templates"]

# --------------------------------------------------------------------------- API reference
# every public module (no leading underscore) except the Streamlit page scripts, which run
# their page when imported
_SCRIPTS = {"acakit.app.main"}


def public_modules() -> list[str]:
    """Dotted names of acakit's public modules, from the source tree."""
    src = ROOT / "src"
    out = []
    for path in sorted((src / "acakit").rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        name = ".".join(parts)
        if any(p.startswith("_") for p in parts) or name in _SCRIPTS or ".app.pages" in name:
            continue
        out.append(name)
    return sorted(set(out))


def _write_api_page() -> None:
    mods = public_modules()
    lines = [
        ".. This file is written by docs/conf.py at every build: do not edit.",
        "",
        "API reference",
        "=============",
        "",
        "Every public module of acakit, generated from its numpy-style docstrings. The layers",
        "follow the design: concepts (``data``, ``strategies``, ``collective``, ``firms``,",
        "``metrics``, ``theory``, ``multi``, ``fairness``) at the bottom, the ``engine`` above",
        "them, ``analyses`` and the front-ends (``cli``, ``audit``, ``app``) on top. The",
        "Streamlit page scripts of :mod:`acakit.app` (``main.py``, ``pages/*.py``) are scripts,",
        "not modules, and are not listed.",
        "",
        ".. autosummary::",
        "   :toctree: generated",
        "",
        *[f"   {m}" for m in mods],
        "",
    ]
    (HERE / "api.rst").write_text("\n".join(lines), encoding="utf-8")


_write_api_page()

# --------------------------------------------------------------------------- user guide
#: the guides in reading order; any other markdown page of docs/ (a new guide) follows them
GUIDE_ORDER = ["theory", "engine", "data", "multiple_collectives", "fairness", "defenses",
               "game", "text_triggers", "cluster", "app"]
#: top-level pages that are not guides
NOT_GUIDES = {"getting_started", "extending"}


def guide_pages() -> list[str]:
    """The user-guide pages: every markdown file of docs/ except the top-level ones."""
    found = {p.stem for p in HERE.glob("*.md")} - NOT_GUIDES
    return [g for g in GUIDE_ORDER if g in found] + sorted(found - set(GUIDE_ORDER))


def _write_guide_page() -> None:
    lines = [
        ".. This file is written by docs/conf.py at every build: do not edit.",
        "",
        "User guide",
        "==========",
        "",
        "The guides of each part of acakit: what it does, its config fields, its measured",
        "numbers and the choices made where the papers were silent.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
        *[f"   {g}" for g in guide_pages()],
        "",
    ]
    (HERE / "guide.rst").write_text("\n".join(lines), encoding="utf-8")


_write_guide_page()
autosummary_generate = True
autosummary_imported_members = False
# a package page documents what the package itself defines; what it re-exports is documented
# on the page of the module that defines it (one target per name)
autodoc_default_options = {"members": True, "show-inheritance": False,
                           "ignore-module-all": True}
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False
# markdown guides: headings as anchors (docs/engine.md#intervals-... links keep working)
myst_heading_anchors = 3
# $...$ and $$...$$ math (typeset by MathJax), and LaTeX environments such as align
myst_enable_extensions = ["dollarmath", "amsmath"]
suppress_warnings = [
    "myst.xref_missing",      # links from the guides to files of the repository (examples/...)
    "myst.header",            # guides whose first heading level skips one
    "autosummary.import_cycle",
    "ref.python",             # "more than one target" for names re-exported by packages
    "toc.not_included",       # files of the gallery's own index are listed by it
    "config.cache",           # sphinx_gallery_conf holds functions (the scraper)
]


def _skip_sklearn_request_methods(app, what, name, obj, skip, options):  # noqa: ANN001, ANN201
    """scikit-learn adds ``set_*_request`` methods to every estimator; their docstrings point
    into scikit-learn's own docs, which this offline build does not have."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


#: the raw HTML block of sphinx-gallery's timing pages (sg_execution_times) that loads jQuery,
#: DataTables and Bootstrap from CDNs (sphinx-gallery has no option to leave it out); without
#: it the table is a plain, unsorted table
_CDN_BLOCK = re.compile(r"^ *\.\. raw:: html\n.*?(?=^ *\.\. list-table::)", re.M | re.S)


def _strip_cdn_block(app, docname, source):  # noqa: ANN001, ANN201
    if docname.endswith("sg_execution_times"):
        source[0] = _CDN_BLOCK.sub("", source[0])


def _one_thread_per_library() -> None:
    """The gallery's scripts run in Sphinx's process: one BLAS/OpenMP thread each (the variables
    for libraries not loaded yet, threadpoolctl for those already loaded). On CI's 2 idle cores
    it costs little; on a machine whose cores are busy, BLAS threads spinning for a share of a
    core made the Adult game page take 110 s instead of 18 s. Done in ``setup`` so that a test
    reading this file changes nothing in its own process."""
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    threadpool_limits(1)


def setup(app):  # noqa: ANN001, ANN201
    _one_thread_per_library()
    app.connect("autodoc-skip-member", _skip_sklearn_request_methods)
    app.connect("source-read", _strip_cdn_block)
nitpicky = False

# --------------------------------------------------------------------------- gallery
GALLERY_OUT = Path(tempfile.gettempdir()) / "acakit-gallery"


def acakit_png_scraper(block, block_vars, gallery_conf):  # noqa: ANN001, ANN201
    """Collect the PNG files that an example wrote with acakit's plotting functions (they
    save and close their figures) under ``GALLERY_OUT/<example name>``, once each."""
    from sphinx_gallery.scrapers import figure_rst

    folder = GALLERY_OUT / Path(block_vars["src_file"]).stem
    seen = block_vars.setdefault("_acakit_seen", set())
    new = sorted(p for p in folder.rglob("*.png") if p not in seen) if folder.is_dir() else []
    paths = []
    for png, target in zip(new, block_vars["image_path_iterator"], strict=False):
        seen.add(png)
        shutil.copyfile(png, target)
        paths.append(target)
    # one full-width image per figure (several in one call would be drawn side by side, small)
    return "\n".join(figure_rst([p], gallery_conf["src_dir"]) for p in paths)


def _reset_gallery_out(gallery_conf, fname, when):  # noqa: ANN001, ANN201
    folder = GALLERY_OUT / Path(fname).stem
    if when == "before" and folder.exists():
        shutil.rmtree(folder)


sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples" / "gallery")],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"plot_",
    "image_scrapers": ("matplotlib", acakit_png_scraper),
    "reset_modules": ("matplotlib", "seaborn", _reset_gallery_out),
    "reset_modules_order": "both",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
    "show_memory": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
}

# --------------------------------------------------------------------------- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"acakit {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = ["_static"]
# a wider content column (narrower side bars) and output blocks that wrap instead of scrolling
html_css_files = ["acakit.css"]
html_show_sourcelink = False
