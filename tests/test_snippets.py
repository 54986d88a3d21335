"""Every python block of the README and the user guide runs as written and
prints what its page says it prints.

A page's blocks run in order, in one namespace, as a reader would run them
(in a scratch directory, so that files a snippet writes land there).

Which blocks run
    Markdown: the ```` ```python ```` blocks. reStructuredText: the
    ``.. code-block:: python`` blocks and the ``::`` literal blocks (Sphinx
    highlights those as Python). A block that is not meant to run (output,
    pseudocode, a launcher's command) is marked by a comment on the line
    before it that gives the reason: ``<!-- skip-snippet: reason -->`` in
    Markdown, ``.. skip-snippet: reason`` in reStructuredText.

What is checked
    A ``print(...)`` statement (at the top level, or the only one inside a
    top-level ``if``/``with``/``for`` block) whose last line ends in a comment
    holding a number (or ``True``/``False``) states what it prints,
    ``print(r2)   # 0.995``; a long value may stand on a comment line of its
    own right after the print. The printed text must match the end of the
    comment, up to a ``;`` that starts a remark: text equal up to
    whitespace, each number equal to the digits shown (``0.9986`` accepts
    0.99857). So ``# mean R2: 0.995`` says "prints 0.995", and
    ``# 0.980; the estimator alone 0.982`` says "prints 0.980".
"""

import ast
import contextlib
import io
import logging
import os
import re
import tempfile
from pathlib import Path

import pytest
import sklearn

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "docs" / "getting_started.rst",
         *sorted((ROOT / "docs" / "user_guide").glob("*.rst"))]
SKIP = re.compile(r"^\s*(?:<!--|\.\.)\s*skip-snippet:\s*(\S.*?)\s*(?:-->)?\s*$")
NUMBER = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?"
#: (page:line, printed text) of every top-level print run, for updating the pages.
PRINTED = []
TOKEN = re.compile(rf"(?P<num>{NUMBER})|\w+|[^\w\s]")


# -- finding the blocks ---------------------------------------------------------------

class Block:
    """One code block of a page: its source, first line number and skip reason."""

    def __init__(self, page, line, source, skip=None):
        self.page, self.line, self.source, self.skip = page, line, source, skip

    def __repr__(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _skip_reason(lines, index):
    """The reason of a skip marker just above line ``index`` (blank lines between)."""
    i = index - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    match = SKIP.match(lines[i]) if i >= 0 else None
    return match.group(1) if match else None


def markdown_blocks(page):
    lines = page.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start, body = i + 1, []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append(Block(page, start + 1, "\n".join(body) + "\n",
                                _skip_reason(lines, start - 1)))
        i += 1
    return blocks


def _indent(line):
    return len(line) - len(line.lstrip())


def rst_blocks(page):
    lines = page.read_text().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        directive = re.match(r"\.\. code-block::\s*(\S*)", stripped)
        literal = stripped.endswith("::") and not stripped.startswith("..")
        if directive and directive.group(1) not in ("python", "py", "python3"):
            continue
        if not (directive or literal):
            continue
        base = _indent(line)
        j = i + 1
        while j < len(lines) and (not lines[j].strip() or
                                  (directive and lines[j].strip().startswith(":")
                                   and _indent(lines[j]) > base)):
            j += 1
        if j >= len(lines) or _indent(lines[j]) <= base:
            continue
        start, body_indent, body = j, _indent(lines[j]), []
        while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) >= body_indent):
            body.append(lines[j][body_indent:])
            j += 1
        blocks.append(Block(page, start + 1, "\n".join(body).rstrip() + "\n",
                            _skip_reason(lines, i)))
    return blocks


def page_blocks(page):
    return markdown_blocks(page) if page.suffix == ".md" else rst_blocks(page)


# -- what a print says it prints -----------------------------------------------------------

def expected_output(source_line):
    """The value a ``print(...)  # value`` line states, or None (no number stated)."""
    match = re.search(r"#\s*(.*)$", source_line)
    if not match or not re.search(r"\d|\bTrue\b|\bFalse\b", match.group(1)):
        return None
    return match.group(1).split("; ")[0].strip()


def _tokens(text):
    return [(m.group(), m.group("num") is not None) for m in TOKEN.finditer(text)]


def _token_matches(printed, expected):
    (p, p_num), (e, e_num) = printed, expected
    if p_num != e_num:
        return False
    if not e_num:
        return p == e
    digits = len(e.split(".")[1].split("e")[0].split("E")[0]) if "." in e else 0
    scale = 10.0 ** int(re.split("[eE]", e)[1]) if re.search("[eE]", e) else 1.0
    return abs(float(p) - float(e)) <= 0.5 * 10.0 ** -digits * scale * (1 + 1e-9)


def output_matches(printed, stated):
    """Whether ``printed`` matches the end of ``stated``, numbers to the digits shown."""
    got, want = _tokens(printed), _tokens(stated)
    for start in range(len(want)):
        tail = want[start:]
        if (len(tail) == len(got) and any(num or t in ("True", "False") for t, num in tail)
                and all(_token_matches(g, w) for g, w in zip(got, tail))):
            return True
    return False


# -- running a page ------------------------------------------------------------------------

def run_page(page, namespace=None):
    """Run every block of ``page`` in one namespace; return the mismatches of printed values."""
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    mismatches = []
    for block in page_blocks(page):
        if block.skip:
            continue
        tree = ast.parse(block.source, filename=str(block))
        source_lines = block.source.splitlines()
        for stmt in tree.body:
            module = ast.Module(body=[stmt], type_ignores=[])
            ast.increment_lineno(module, block.line - 1)
            code = compile(module, str(block.page), "exec")
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(code, namespace)  # noqa: S102
            prints = [node for node in ast.walk(stmt) if _is_print(node)]
            if len(prints) != 1 or isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                continue  # several prints in one loop or block: their lines are not checked
            last = prints[0].end_lineno - block.line + 1  # its last line in the block
            stated = expected_output(source_lines[last - 1])
            if stated is None and "#" not in source_lines[last - 1] and last < len(source_lines) \
                    and source_lines[last].lstrip().startswith("#"):
                stated = expected_output(source_lines[last])   # the value on the next line
            printed = buffer.getvalue().strip()
            PRINTED.append((f"{block.page.relative_to(ROOT)}:{block.line + last - 1}", printed))
            if stated is not None and not output_matches(printed, stated):
                where = f"{block.page.relative_to(ROOT)}:{block.line + last - 1}"
                mismatches.append(f"{where}: the page says {stated!r}, it prints {printed!r}")
    return namespace, mismatches


_RUNS = {}


def page_run(page):
    """``run_page(page)`` once per session (tests/test_readme.py reads the README's run),
    in a scratch directory, with scikit-learn's configuration and the logger restored."""
    if page not in _RUNS:
        logger = logging.getLogger("skoperator")
        level, handlers = logger.level, list(logger.handlers)
        cwd = os.getcwd()
        try:
            with tempfile.TemporaryDirectory() as scratch, sklearn.config_context():
                os.chdir(scratch)
                _RUNS[page] = run_page(page)
        finally:
            os.chdir(cwd)
            for handler in logger.handlers[:]:
                if handler not in handlers:
                    logger.removeHandler(handler)
                    handler.close()
            logger.setLevel(level)
    return _RUNS[page]


def _is_print(stmt):
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == "print")


# -- the tests -----------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_blocks_run_and_print_what_the_page_says(page):
    _, mismatches = page_run(page)
    assert not mismatches, "\n".join(mismatches)


def test_skipped_blocks_are_rare_and_give_a_reason():
    blocks = [b for page in PAGES for b in page_blocks(page)]
    skipped = [b for b in blocks if b.skip]
    assert all(len(b.skip) > 10 for b in skipped), skipped
    assert len(skipped) <= len(blocks) // 4, skipped


@pytest.mark.parametrize("printed, stated, ok", [
    ("0.99512", "per-function R2, the paper's metric: 0.995", True),
    ("0.99857", "0.9986", True),
    ("0.99857", "0.9985", False),
    ("{'n_eval': 1, 'sampling': 'full'} 0.99857", "{'n_eval': 1, 'sampling': 'full'} 0.9986", True),
    ("{'n_eval': 10, 'sampling': 'full'} 0.99857", "{'n_eval': 1, 'sampling': 'full'} 0.9986",
     False),
    ("[0.996 0.99 ]", "[0.996 0.990]", True),
    ("0.2", "0.25", False),
    ("True", "equivariant: True", True),
    ("False", "equivariant: True", False),
])
def test_output_matches_to_the_digits_shown(printed, stated, ok):
    assert output_matches(printed, expected_output("print(x)  # " + stated)) is ok
