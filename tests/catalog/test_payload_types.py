"""``trigger-compat catalog types``: typed payloads from the catalog's JSON Schemas. The
file generated for the shipped catalog is checked in (examples/catalog_types.py) and must be
current; a type checker rejects a wrong payload at a call site that uses it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from mypy import api as mypy_api

from trigger_compat.cli import main
from trigger_compat.cli.catalog_types import render
from trigger_compat.core.payload_types import class_name, payload_types_source

ROOT = Path(__file__).parents[2]
CHECKED_IN = ROOT / "examples" / "catalog_types.py"


def test_checked_in_file_is_current() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == render(str(ROOT / "catalog.yaml")), (
        "run: trigger-compat catalog types catalog.yaml -o examples/catalog_types.py"
    )


def test_cli_writes_then_reports_current_and_check(tmp_path: Path) -> None:
    out = tmp_path / "types.py"
    runner = CliRunner()
    catalog = str(ROOT / "catalog.yaml")
    first = runner.invoke(main, ["catalog", "types", catalog, "-o", str(out)])
    assert first.exit_code == 0 and "wrote" in first.output
    text = out.read_text(encoding="utf-8")
    second = runner.invoke(main, ["catalog", "types", catalog, "-o", str(out)])
    assert second.exit_code == 0 and "is current" in second.output
    assert out.read_text(encoding="utf-8") == text
    assert (
        runner.invoke(main, ["catalog", "types", catalog, "-o", str(out), "--check"]).exit_code == 0
    )
    out.write_text(text + "# edited\n", encoding="utf-8")
    assert (
        runner.invoke(main, ["catalog", "types", catalog, "-o", str(out), "--check"]).exit_code == 1
    )


def test_mapping_of_json_schema() -> None:
    source = payload_types_source(
        {
            "a.b": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "n": {"type": ["integer", "null"]},
                    "kind": {"enum": ["x", "y"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "meta": {"type": "object", "additionalProperties": {"type": "number"}},
                    "inner": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
                    "from": {"type": "string"},
                },
                "required": ["id"],
            },
            "free": None,
        },
        "test.yaml",
    )
    assert class_name("events.deliverScheduled") == "EventsDeliverScheduled"
    assert "class ABPayloadInner(TypedDict):\n    ok: NotRequired[bool]" in source
    assert '"id": str' in source  # "from" is a keyword: the functional form
    assert '"n": NotRequired[int | None]' in source
    assert '"kind": NotRequired[Literal["x", "y"]]' in source
    assert '"tags": NotRequired[list[str]]' in source
    assert '"meta": NotRequired[dict[str, float]]' in source
    assert "FreePayload: TypeAlias = Any" in source
    compile(source, "test.py", "exec")


def test_type_checker_catches_a_wrong_payload(tmp_path: Path) -> None:
    (tmp_path / "catalog_types.py").write_text(CHECKED_IN.read_text(encoding="utf-8"))
    (tmp_path / "calls.py").write_text(
        "from catalog_types import job\n"
        'ok = job("startRun", {"id": "run_1"})\n'
        'wrong_type = job("startRun", {"id": 1})\n'
        'missing = job("startRun", {})\n'
        'unknown_task = job("startRunn", {"id": "x"})\n'
    )
    out, _, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy"),
            str(tmp_path / "calls.py"),
        ]
    )
    assert status == 1
    bad_lines = {line.split(":")[1] for line in out.splitlines() if ": error:" in line}
    assert bad_lines == {"3", "4", "5"}, out
