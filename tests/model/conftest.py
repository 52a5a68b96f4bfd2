"""Prints how many examples and steps the model-based test ran (with or without ``-s``)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for key in ("passed", "failed"):
        for report in terminalreporter.stats.get(key, []):
            props = dict(getattr(report, "user_properties", []))
            if getattr(report, "when", None) == "call" and "model_examples" in props:
                terminalreporter.section("model-based test")
                terminalreporter.write_line(
                    f"{props['model_examples']} examples, {props['model_steps']} steps checked "
                    f"against the model in {props['model_seconds']} s"
                )
                for event, count in props.get("model_events", {}).items():
                    terminalreporter.write_line(f"  {event}: {count}")
