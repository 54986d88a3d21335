"""Sphinx configuration of the skoperator documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (add
``-D plot_gallery=0`` to render the gallery without running the examples).
"""

import os
import sys
import warnings
from pathlib import Path

import skoperator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout, when not installed
sys.path.insert(0, str(HERE))  # _gallery_order

project = "skoperator"
author = "skoperator developers"
copyright = "skoperator developers"  # noqa: A001 - Sphinx's name for it
version = release = skoperator.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_claims.md", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json",
                    "auto_examples/*.md5", "**/sg_execution_times.rst"]
templates_path = ["_templates"]

# -- API reference -----------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"inherited-members": False}
# The class docstring lists parameters and attributes; methods get their own
# autosummary table from the template, not numpydoc's member listing.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# The docstrings are validated as tests/test_docstrings.py validates them
# (an extended summary, See Also and "name : type" return lines are not
# required; methods need no Examples of their own): a violation fails the
# build (-W).
numpydoc_validation_checks = {"all", "ES01", "SA01", "RT02", "EX01"}
numpydoc_validation_exclude = {r"\._[a-z]", r"\.__"}
numpydoc_xref_param_type = False

# -- Markdown pages (benchmarks, performance) --------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

# -- Gallery -----------------------------------------------------------------
# ``-D plot_gallery=0`` renders the examples without running them (CI); the
# examples are run separately at small size by tests/test_examples.py.
sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # "Examples using X" on every API page.
    "doc_module": ("skoperator",),
    "backreferences_dir": "gen_modules/backreferences",
    "within_subsection_order": "_gallery_order.GalleryOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": False,
}

# The gallery runs examples in this process; keep matplotlib off any screen.
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skoperator {release}"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
