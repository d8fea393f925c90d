"""The public API is typed: ``mypy --strict`` accepts ``typed_usage.py`` and reports exactly the mistakes
marked in ``type_errors.py``. One mypy run checks both files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
USAGE = HERE / "typed_usage.py"
MISTAKES = HERE / "type_errors.py"

# ``path:line: error: message  [code]``
ERROR_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
MARKER = re.compile(r"# error: \[(?P<code>[a-z-]+)\]")


@pytest.fixture(scope="module")
def mypy_errors() -> dict[str, set[tuple[int, str]]]:
    """The errors mypy reports, per file name: ``{(line, code)}``."""
    finished = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(USAGE), str(MISTAKES)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert finished.returncode in (0, 1), finished.stdout + finished.stderr  # 2 would be a crash or bad flag
    errors: dict[str, set[tuple[int, str]]] = {USAGE.name: set(), MISTAKES.name: set()}
    for line in finished.stdout.splitlines():
        match = ERROR_LINE.match(line)
        if match is not None:
            errors.setdefault(Path(match["path"]).name, set()).add((int(match["line"]), match["code"]))
    return errors


def test_typed_usage_of_the_public_api_passes_mypy_strict(
    mypy_errors: dict[str, set[tuple[int, str]]],
) -> None:
    assert mypy_errors[USAGE.name] == set()


def test_mypy_strict_reports_each_marked_mistake_and_nothing_else(
    mypy_errors: dict[str, set[tuple[int, str]]],
) -> None:
    expected = {
        (number, match["code"])
        for number, text in enumerate(MISTAKES.read_text().splitlines(), 1)
        if (match := MARKER.search(text)) is not None
    }
    assert len(expected) >= 10  # the file is read as intended: it cannot pass by finding no markers
    assert mypy_errors[MISTAKES.name] == expected
