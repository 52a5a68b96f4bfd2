"""Prints the fault table at the end of the session (with or without ``-s``, with xdist too:
each test hands its line over as a ``user_properties`` entry)."""

from __future__ import annotations

import json
from typing import Any

import pytest

PROPERTY = "fault_table_row"
COLUMNS = (
    ("scenario", "scenario"),
    ("seed", "seed"),
    ("faults", "faults injected"),
    ("accepted", "accepted"),
    ("succeeded", "succeeded"),
    ("failed", "failed"),
    ("pending", "pending"),
    ("lost", "lost"),
    ("completed_twice", "completed twice"),
    ("reruns_after_crash", "re-runs (crash)"),
    ("reruns_after_lost_lease", "re-runs (lost lease)"),
    ("max_release_s", "max release s"),
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines: list[dict[str, Any]] = []
    for key in ("passed", "failed"):
        for report in terminalreporter.stats.get(key, []):
            if getattr(report, "when", None) != "call":
                continue
            for name, value in getattr(report, "user_properties", []):
                if name == PROPERTY:
                    lines.append(json.loads(value))
    if not lines:
        return
    lines.sort(key=lambda line: str(line["scenario"]))
    total: dict[str, Any] = {"scenario": "total", "seed": ""}
    for key, _ in COLUMNS[2:]:
        values = [line[key] for line in lines]
        total[key] = max(values) if key == "max_release_s" else sum(values)
    table = [[title for _, title in COLUMNS]]
    table += [[str(line[key]) for key, _ in COLUMNS] for line in [*lines, total]]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    terminalreporter.section("fault injection")
    for i, row in enumerate(table):
        terminalreporter.write_line(
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
        )
        if i == 0:
            terminalreporter.write_line("  ".join("-" * w for w in widths))
    for line in lines:
        kinds = ", ".join(f"{k} {n}" for k, n in line["fault_kinds"].items())
        terminalreporter.write_line(f"{line['scenario']}: {kinds}")


@pytest.fixture()
def fault_table(record_property: Any) -> Any:
    """Call with a report dict to add its line to the fault table."""

    def record(row: dict[str, Any]) -> None:
        record_property(PROPERTY, json.dumps(row))

    return record
