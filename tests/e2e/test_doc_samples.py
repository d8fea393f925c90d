"""Every ```python block of README.md and docs/*.md, checked so that a sample that rots fails the suite.

The convention (stated in docs/index.md, "Code samples"):

- A **complete** sample ends by running (its last statement is ``asyncio.run(...)``) and defines everything it
  uses: it runs here in a fresh interpreter, in an empty temporary folder, on SQLite, and must succeed.
- Every other block is a **fragment**: it must compile (``await`` at top level allowed), and each name it uses
  without defining is either implied (a name exported by ``aiki``, ``aiki.testing``, ``pydantic``,
  ``typing`` or ``datetime``, or a standard library module), bound by an earlier block of the page, shown as
  code by the page's prose before the block or explained by a comment at its top (``# name: ...``), or one of
  the conventional names that docs/index.md lists with where each comes from.
- A block whose first line is ``# needs: ...`` (PostgreSQL, a running server, a package outside aiki's
  extras) is a fragment even if it ends by running: it is compiled and checked, never run.
"""

from __future__ import annotations

import ast
import builtins
import re
import subprocess
import symtable
import sys
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path

import pydantic
import pytest

import aiki
import aiki.testing

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NEEDS = "# needs:"
#: the heading in docs/index.md whose table lists the conventional names of fragments
CONVENTION_HEADING = "## Code samples"


@dataclass(frozen=True)
class Sample:
    page: str
    line: int
    code: str
    #: the page's prose before the block (code blocks left out)
    prose_before: str = ""

    @property
    def label(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def complete(self) -> bool:
        statements = ast.parse(self.code).body if self.compiles_as_module else []
        if not statements or self.code.startswith(NEEDS):
            return False
        last = statements[-1]
        return (
            isinstance(last, ast.Expr)
            and isinstance(last.value, ast.Call)
            and ast.unparse(last.value.func) == "asyncio.run"
        )

    @property
    def compiles_as_module(self) -> bool:
        try:
            ast.parse(self.code)
        except SyntaxError:
            return False
        return True


def samples() -> list[Sample]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 2  # the block's first line of code
            prose = re.sub(r"^```.*?^```", "", text[: match.start()], flags=re.S | re.M)
            found.append(Sample(page.relative_to(ROOT).as_posix(), line, match.group(1), prose))
    return found


SAMPLES = samples()
COMPLETE = [sample for sample in SAMPLES if sample.complete]
FRAGMENTS = [sample for sample in SAMPLES if not sample.complete]


def conventional_names() -> dict[str, str]:
    """The names docs/index.md lets fragments use without defining them, with where each comes from."""
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    section = index.split(CONVENTION_HEADING, 1)[1].split("\n## ", 1)[0]
    names: dict[str, str] = {}
    for row in re.findall(r"^\| *(`[^|]+`) *\| *([^|]+?) *\|$", section, re.M):
        for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", row[0]):
            names[name] = row[1]
    return names


def implied_names() -> set[str]:
    """Names a fragment may use as if imported: aiki's, pydantic's, typing's, datetime's, stdlib modules."""
    import datetime

    return (
        set(aiki.__all__)
        | set(aiki.testing.__all__)
        | set(pydantic.__all__)
        | set(typing.__all__)
        | {"datetime", "timedelta", "timezone", "UTC"}
        | set(sys.stdlib_module_names)
        | {name for name in dir(datetime) if not name.startswith("_")}
        | set(dir(builtins))
    )


def undefined_names(code: str) -> set[str]:
    """The names ``code`` reads without binding them anywhere in it (the sample runs as one async body)."""
    wrapped = "async def __sample__():\n" + textwrap.indent(code, "    ") + "\n    pass\n"
    table = symtable.symtable(wrapped, "<sample>", "exec")
    found: set[str] = set()

    def visit(scope: symtable.SymbolTable) -> None:
        for symbol in scope.get_symbols():
            if symbol.is_referenced() and symbol.is_global() and not symbol.is_declared_global():
                found.add(symbol.get_name())
        for child in scope.get_children():
            visit(child)

    [function] = table.get_children()
    visit(function)
    return found


def bound_names(code: str) -> set[str]:
    """The names ``code`` binds at its top level (assignments, imports, definitions)."""
    wrapped = "async def __sample__():\n" + textwrap.indent(code, "    ") + "\n    pass\n"
    [function] = symtable.symtable(wrapped, "<sample>", "exec").get_children()
    return {symbol.get_name() for symbol in function.get_symbols() if symbol.is_local()}


def named_in_prose(sample: Sample) -> set[str]:
    """The names the page's prose before ``sample`` shows as code (`` `run_ids` ``), and those a comment
    at the top of the block explains (``# run_ids, run_id: ids of runs of order_v1``)."""
    names = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", sample.prose_before))
    for line in sample.code.splitlines():
        if not line.startswith("#"):
            break
        head = line.lstrip("# ").split(":", 1)
        if len(head) == 2:
            names.update(name.strip() for name in head[0].split(","))
    return names


def bound_before(sample: Sample) -> set[str]:
    """The names bound by the blocks of the same page before ``sample`` (a page reads top to bottom)."""
    return {
        name
        for earlier in SAMPLES
        if earlier.page == sample.page and earlier.line < sample.line
        for name in bound_names(earlier.code)
    }


def test_the_docs_hold_complete_samples_and_fragments() -> None:
    assert {sample.page for sample in COMPLETE} >= {"README.md", "docs/index.md"}
    assert len(FRAGMENTS) > 20


@pytest.mark.parametrize("sample", FRAGMENTS, ids=lambda sample: sample.label)
def test_a_fragment_compiles_and_names_where_its_undefined_names_come_from(sample: Sample) -> None:
    compile(sample.code, sample.label, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    unexplained = (
        undefined_names(sample.code)
        - implied_names()
        - bound_before(sample)
        - named_in_prose(sample)
        - set(conventional_names())
    )
    assert unexplained == set(), (
        f"{sample.label} uses {sorted(unexplained)} without defining them: define them in the sample, or add "
        f"them to the table under '{CONVENTION_HEADING}' in docs/index.md, or say in the page's prose (as "
        f"`name`) or in a comment at the top of the block (# name: ...) where they come from"
    )


@pytest.mark.parametrize("sample", COMPLETE, ids=lambda sample: sample.label)
def test_a_complete_sample_runs(sample: Sample, tmp_path: Path) -> None:
    assert undefined_names(sample.code) - set(dir(builtins)) == set()
    finished = subprocess.run(
        [sys.executable, "-c", sample.code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, f"{sample.label} failed:\n{finished.stderr}"


def test_the_checks_see_an_undefined_name_and_a_complete_sample() -> None:
    code = "import asyncio\nasync def main():\n    await order_v1.start(client, input)\nasyncio.run(main())\n"
    assert undefined_names(code) == {"order_v1", "client", "input"}
    assert Sample("x.md", 1, code).complete
    assert not Sample("x.md", 1, NEEDS + " postgresql\n" + code).complete
    assert not Sample("x.md", 1, "await run.sleep('a', {'days': 1})\n").complete
    assert "run" in conventional_names()
    fragment = Sample(
        "x.md", 9, "# batch: ids of runs\nawait c.cancel_runs(batch + run_ids)\n", "`run_ids` are ids"
    )
    assert named_in_prose(fragment) >= {"batch", "run_ids"}
    assert "run_ids" not in named_in_prose(Sample("x.md", 9, fragment.code, "run_ids are ids"))
