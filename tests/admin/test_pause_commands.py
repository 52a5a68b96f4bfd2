"""``trigger-compat pause|resume`` and the paused list of ``status``."""

from __future__ import annotations

from trigger_compat import Client

from .conftest import CLI


def test_pause_and_resume_commands(cli: CLI, client: Client) -> None:
    client.add_job("sendEmail", {"to": "a@example.com"})
    run = cli("pause", "--task", "sendEmail", "--queue", "events:1", "--json")
    assert run.code == 0, run.err
    data = run.json()
    assert data["changed"] == {"tasks": ["sendEmail"], "queues": ["events:1"]}
    assert len(data["paused"]) == 2
    assert client.fetch_jobs("w", 5) == []
    status = cli("status", "--json").json()
    assert {(p["kind"], p["name"]) for p in status["paused"]} == {
        ("task", "sendEmail"),
        ("queue", "events:1"),
    }
    text = cli("status")
    assert "Paused (no job of theirs starts): " in text.out and "task sendEmail" in text.out
    again = cli("pause", "--task", "sendEmail")
    assert again.code == 0 and "no change" in again.out
    run = cli("resume", "--task", "sendEmail", "--json")
    assert run.code == 0, run.err
    assert run.json()["changed"] == {"tasks": ["sendEmail"], "queues": []}
    assert [j.task_identifier for j in client.fetch_jobs("w", 5)] == ["sendEmail"]
    assert cli("resume", "--queue", "events:1").out.strip() == "resumed queue events:1"
    assert cli("status", "--json").json()["paused"] == []


def test_pause_needs_a_target(cli: CLI, client: Client) -> None:
    run = cli("pause")
    assert run.code == 2 and "--task" in run.err
