"""The quick start (what ``scripts/demo.sh`` runs) completes an order end to end, as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_quickstart_example_prints_its_progress_the_timeline_and_the_receipt(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), "--db", f"sqlite:///{tmp_path}/demo.db"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    out = finished.stdout
    assert "process-payment order-123, attempt 2" in out
    assert "running -> sleeping" in out and "sleeping -> queued" in out
    assert "result: {'success': True, 'order_id': 'order-123', 'charged': 42.5}" in out
    # Finished tasks are not re-run when the handler replays after the sleep.
    assert out.count("[task] validate-order") == 1


def test_the_readme_quick_start_code_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("## Quick start", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )

    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split()[1] == "queued"
