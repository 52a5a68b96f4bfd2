"""The soak with faults of bench/soak_faults.py, in small: about 200 jobs/s for 24 s through
four worker processes while one is SIGKILLed, another has its connections terminated and the
database restarts (crash recovery). No acknowledged job is lost, every job run twice is
explained by the kill (its process died mid-run or between the handler's return and the commit
of its outcome), and nothing is left behind."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.processes import ROOT
from support.servers import restart_server

sys.path.insert(0, str(ROOT / "bench"))
import soak_faults

pytestmark = [pytest.mark.timeout(240), pytest.mark.stress]


def test_short_soak_with_faults(tmp_path: Path, private_server: Any) -> None:
    url = str(private_server.get_uri())
    plan = [(5.0, "sigkill"), (11.0, "terminate"), (17.0, "restart-immediate")]
    with soak_faults.SoakRun(
        url,
        tmp_path,
        seconds=24,
        rate=200,
        processes=4,
        rescue_after=2.0,
        report_every=8,
        plan=plan,
        restart=lambda mode: restart_server(private_server, mode),
        log=lambda line: print(time.strftime("%H:%M:%S"), line),
    ) as run:
        result = run.run()
    text = f"{soak_faults.render(result, 8)}\n{soak_faults.summary(result)}"
    print(text)
    assert [f.kind for f in result.faults] == ["sigkill", "terminate", "restart-immediate"]
    assert result.faults[1].detail != "0 connection(s)", "the worker had connections"
    assert result.accepted > 0 and result.pending == 0, text
    assert not result.lost, f"acknowledged jobs never completed: {result.lost[:20]}\n{text}"
    assert not result.unexplained, f"run twice without a kill: {result.unexplained}\n{text}"
    assert not result.unexpected_exits, text
    # Every period ran jobs: the workers came back after each fault.
    assert all(p.done > 0 for p in result.periods), text
