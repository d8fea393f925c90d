"""The subscription-trial example runs end to end with a short trial: one customer pays, one lapses. In an
``aiki.testing`` environment the trial lasts its real fourteen days, skipped."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from aiki import RunStatus
from aiki.testing import environment

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


async def test_a_fourteen_day_trial_keeps_the_payer_and_downgrades_the_lapsed_without_waiting() -> None:
    example = _load_example()
    trial_v1 = example.subscription_trial_v1
    fourteen_days_ms = 14 * 24 * 3600 * 1000
    async with environment(workflows=[trial_v1]) as env:
        start_ms = env.clock.now_ms()
        paying = await trial_v1.start(env.client, example.Trial(customer="ada", trial_ms=fourteen_days_ms))
        lapsing = await trial_v1.start(env.client, example.Trial(customer="bob", trial_ms=fourteen_days_ms))
        await env.run_until_idle()
        assert (await paying.refresh()).status is RunStatus.AWAITING_EVENT

        await paying.events.payment_received.send({"amount_cents": 1_900, "reference": "invoice-ada-1"})
        paid = await paying.wait_for_status("completed", timeout={"seconds": 30})
        paid_at_ms = env.clock.now_ms()
        lapsed = await lapsing.wait_for_status("completed", timeout={"seconds": 30})

    assert paid.output == example.Outcome(customer="ada", plan="premium", paid_cents=1_900)
    assert paid_at_ms == start_ms
    assert lapsed.output == example.Outcome(customer="bob", plan="free")
    assert env.clock.now_ms() == start_ms + fourteen_days_ms
