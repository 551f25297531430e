"""The documentation site's sources (issue 28): the gallery and the API reference.

The site itself is built by `.ci/run` (`sphinx-build -W`, which runs every gallery script);
these checks are the cheap part that a plain `pytest` can make.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

import acakit

ROOT = Path(__file__).resolve().parents[1]
GALLERY = ROOT / "examples" / "gallery"


def _conf():
    spec = importlib.util.spec_from_file_location("acakit_docs_conf", ROOT / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)  # writes docs/api.rst, as a build does
    return conf


def test_gallery_has_at_least_eight_scripts_that_say_how_their_numbers_were_made():
    scripts = sorted(GALLERY.glob("plot_*.py"))
    assert len(scripts) >= 8
    for path in scripts:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, path.name
        title, underline, *body = doc.splitlines()
        assert set(underline) == {"="} and len(underline) >= len(title), path.name
        text = " ".join(body).lower()
        assert "seed" in text or "no randomness" in text, f"{path.name}: how were the numbers made?"


def test_every_public_module_has_an_api_page():
    conf = _conf()
    listed = set(conf.public_modules())
    found = {m.name for m in pkgutil.walk_packages(acakit.__path__, "acakit.")
             if not any(p.startswith("_") for p in m.name.split("."))}
    scripts = {m for m in found if m == "acakit.app.main" or m.startswith("acakit.app.pages")}
    assert found - scripts <= listed, sorted(found - scripts - listed)
    api = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    assert all(f"   {m}\n" in api for m in listed)
    assert "acakit.collective" in listed


def test_docs_build_fetches_nothing():
    conf = _conf()
    assert "sphinx.ext.intersphinx" not in conf.extensions
    assert not getattr(conf, "intersphinx_mapping", None)


def test_every_markdown_page_of_docs_is_in_the_site():
    """A guide added to docs/ (the GPU or game pages) joins the user guide by itself;
    `sphinx-build -W` would fail on a page in no toctree."""
    conf = _conf()
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    index = (ROOT / "docs" / "index.rst").read_text(encoding="utf-8")
    top = {name for name in conf.NOT_GUIDES if f"   {name}\n" in index}
    assert top == conf.NOT_GUIDES
    assert pages <= set(conf.guide_pages()) | top
    guide = (ROOT / "docs" / "guide.rst").read_text(encoding="utf-8")
    assert all(f"   {g}\n" in guide for g in conf.guide_pages())


def test_site_is_configured_to_load_nothing_from_outside_the_build():
    """MathJax comes from the build (sphinx-mathjax-offline, in the docs extras), the guides'
    ``$...$`` is math, and sphinx-gallery's CDN block is cut from its timing pages. The built
    pages themselves are checked by tests/test_site.py."""
    import tomllib

    conf = _conf()
    assert "sphinx.ext.mathjax" in conf.extensions and "sphinx-mathjax-offline" in conf.extensions
    assert {"dollarmath", "amsmath"} <= set(conf.myst_enable_extensions)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(r.startswith("sphinx-mathjax-offline")
               for r in extras["project"]["optional-dependencies"]["docs"])
    # sphinx-gallery's sg_execution_times.rst (0.22), as it writes it
    page = ["""Computation times
=================

.. container::

  .. raw:: html

    <style scoped>
    <link href="https://cdnjs.cloudflare.com/bootstrap.min.css" rel="stylesheet" />
    </style>
    <script src="https://code.jquery.com/jquery-3.7.0.js"></script>
    <script type="text/javascript" class="init">
    $(document).ready( function () {
        $('table.sg-datatable').DataTable({order: [[1, 'desc']]});
    } );
    </script>

  .. list-table::
   :header-rows: 1

   * - Example
"""]
    conf._strip_cdn_block(None, "sg_execution_times", page)
    assert "http" not in page[0] and "<script" not in page[0]
    assert ".. list-table::" in page[0] and "* - Example" in page[0]


def test_gallery_has_pages_on_bundled_real_data_that_say_how_they_were_cut_down():
    for name, data in [("plot_bbc_trigger", "bbc_news"), ("plot_compas_pareto", "compas"),
                       ("plot_game_adult", "adult")]:
        text = (GALLERY / f"{name}.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text))
        assert "Cut down from ``examples/" in doc, name
        full = doc.split("Cut down from ``")[1].split("``")[0]
        assert (ROOT / full).is_file(), full
        assert f'"{data}"' in text, name
