"""Print the benchmark table (Markdown) from the JSON that ``run.py`` writes.

python benchmarks/report.py benchmarks/results/bench-20261126-0700.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

from common import BACKENDS, GROWN_WORKLOADS, METRICS, WORKLOADS


def number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def cell(result: dict[str, Any] | None, key: str) -> str:
    if result is None:
        return "-"
    if not result.get("available", True):
        return "n/a"
    figure = result.get("metrics", {}).get(key)
    if figure is None:
        return "error" if result.get("error") else "-"
    if len(figure["reps"]) == 1:
        return number(figure["median"])
    return f"{number(figure['median'])} ({number(figure['min'])}-{number(figure['max'])})"


def median(result: dict[str, Any] | None, key: str) -> float | None:
    if result is None:
        return None
    figure = result.get("metrics", {}).get(key)
    return None if figure is None else float(figure["median"])


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator == 0:
        return "-"
    return f"{numerator / denominator:.2f}x"


def index_results(document: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["system"], r["backend"], r["workload"]): r for r in document["results"]}


def table(document: dict[str, Any]) -> list[str]:
    results = index_results(document)
    lines = [
        "| backend | figure | unit | aiki | DBOS | aiki/DBOS | better |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for backend in BACKENDS:
        for workload in WORKLOADS:
            aiki = results.get(("aiki", backend, workload))
            dbos = results.get(("dbos", backend, workload))
            if aiki is None and dbos is None:
                continue
            for key, label, unit, better in METRICS[workload]:
                lines.append(
                    f"| {backend} | {label} | {unit} | {cell(aiki, key)} | {cell(dbos, key)} "
                    f"| {ratio(median(aiki, key), median(dbos, key))} | {better} |"
                )
            floor = results.get(("floor", backend, "floor"))
            if workload == "W2" and floor is not None:
                floor_us = median(floor, "us_per_commit")
                lines.append(
                    f"| {backend} | W2 / floor (1 INSERT + COMMIT: {cell(floor, 'us_per_commit')} us) | x "
                    f"| {ratio(median(aiki, 'us_per_task'), floor_us)} "
                    f"| {ratio(median(dbos, 'us_per_task'), floor_us)} | | lower |"
                )
    return lines


def grown_table(document: dict[str, Any]) -> list[str]:
    """``--prefill-mode grown``: each aiki figure on the empty database and after the prefill, same process."""
    results = index_results(document)
    lines = [
        f"| backend | figure | unit | empty database | grown ({document['prefill']:,} runs) | grown/empty | better |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for backend in BACKENDS:
        for workload in GROWN_WORKLOADS:
            result = results.get(("aiki", backend, workload))
            if result is None:
                continue
            empty = {"available": True, "metrics": result.get("extra", {}).get("empty", {})}
            for key, label, unit, better in METRICS[workload]:
                lines.append(
                    f"| {backend} | {label} | {unit} | {cell(empty, key)} | {cell(result, key)} "
                    f"| {ratio(median(result, key), median(empty, key))} | {better} |"
                )
    return lines


PREFILL_STEPS = ("tasks", "transitions", "sleeps", "events", "runs", "analyze")


def describe_prefill(prefill: dict[str, Any]) -> str:
    """One line: how long the prefill took, per table, and the rows it wrote."""
    seconds, rows = prefill.get("seconds", {}), prefill.get("rows", {})
    # The results file sorts its keys: put the steps back in the order they ran.
    steps = ", ".join(f"{name} {seconds[name]:.1f} s" for name in PREFILL_STEPS if name in seconds)
    counts = ", ".join(f"{name} {rows[name]:,}" for name in PREFILL_STEPS if name in rows)
    return f"prefill of {prefill['runs']:,} runs took {prefill['total_s']:.1f} s ({steps}); rows: {counts}"


def notes(document: dict[str, Any]) -> list[str]:
    lines = []
    seen: set[tuple[str, str]] = set()
    for result in document["results"]:
        system, backend = result["system"], result["backend"]
        if result.get("error"):
            lines.append(f"- {system} {backend} {result['workload']}: {result['error']}")
        if (system, backend) in seen or not result.get("config"):
            continue
        seen.add((system, backend))
        lines.append(f"- {system} on {backend}: " + "; ".join(result["config"]))
    described: set[str] = set()
    for result in document["results"]:
        prefill = result.get("extra", {}).get("prefill")
        # Grown mode writes one record per workload from one process: its prefill is told once.
        if prefill and json.dumps(prefill, sort_keys=True) not in described:
            described.add(json.dumps(prefill, sort_keys=True))
            lines.append(f"- aiki {result['backend']} {result['workload']}: {describe_prefill(prefill)}")
    for result in document["results"]:
        if result["workload"] != "W5" or not result.get("extra", {}).get("per_rep"):
            continue
        for rep in result["extra"]["per_rep"]:
            lines.append(
                f"- W5 aiki on {result['backend']}: {rep['runs']:,} runs queued in {rep['queue_s']:.1f} s, "
                f"first completion {rep['first_completion_ms']:.0f} ms after the worker started, "
                f"drained in {rep['drain_s']:.1f} s"
            )
    for result in document["results"]:
        if result["workload"] != "W4" or not result.get("extra", {}).get("per_rep"):
            continue
        reps = result["extra"]["per_rep"]
        spans = ", ".join(f"{rep['sleep_start_span_s']:.2f}" for rep in reps)
        worst = ", ".join(f"{rep['lateness_max_ms']:.1f}" for rep in reps)
        who = f"{result['system']} on {result['backend']}"
        lines.append(
            f"- W4 {who}: the {result['sizes']['w4_runs']} timers were armed over {spans} s per rep "
            f"(a shorter window is a denser burst of wake-ups); worst lateness {worst} ms"
        )
    return lines


def load(document: dict[str, Any], key: str) -> str:
    values = document.get(key)
    return " ".join(f"{value:.2f}" for value in values) if values else "?"


def render(document: dict[str, Any]) -> str:
    machine = document.get("machine", {})
    grown = document.get("prefill_mode") == "grown"
    prefill = document.get("prefill") or 0
    database = (
        f"aiki measured on a database holding {prefill:,} finished runs "
        f"({'grown in the same process after the empty-database figures' if grown else 'prefilled'})."
        if prefill
        else ""
    )
    header = [
        f"aiki vs DBOS Transact, {document.get('created', '')}: "
        f"{machine.get('nproc')} CPUs, {machine.get('memory_gib')} GiB, Python {machine.get('python')}, "
        f"{document.get('postgres', '')}; load average before/after "
        f"{load(document, 'load_average_before')} / {load(document, 'load_average_after')}",
        f"Each cell: median of {document.get('reps')} repetitions (min-max). aiki/DBOS above 1 is better for "
        "aiki when higher is better, below 1 when lower is. W1 submits all runs at once; W4 "
        + (f"starts its runs at {document['w4_rate']:g}/s." if document.get("w4_rate") else "too.")
        + (f" {database}" if database else ""),
        "",
    ]
    body = grown_table(document) if grown else table(document)
    return "\n".join([*header, *body, "", *notes(document)])


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python benchmarks/report.py RESULTS.json")
    with open(sys.argv[1]) as file:
        print(render(json.load(file)))


if __name__ == "__main__":
    main()
