"""The subscription-trial example runs end to end with a short trial: one customer pays, one lapses."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "subscription_trial.py"


def _load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("subscription_trial_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_subscription_trial_example_upgrades_the_payer_and_downgrades_the_lapsed_trial(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = _load_example()

    # Long enough that the payer's trial cannot end before its payment is sent, even on a loaded machine.
    outcomes = await example.main(f"sqlite:///{tmp_path}/trial.db", trial_ms=1_500)

    assert {name: (outcome.plan, outcome.paid_cents) for name, outcome in outcomes.items()} == {
        "ada": ("premium", 1_900),
        "bob": ("free", 0),
    }
    printed = capsys.readouterr().out
    assert "delivered: True, duplicate delivered: False" in printed
    assert "downgrade-to-free: the trial of bob ended unpaid" in printed
