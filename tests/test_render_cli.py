"""``pyenvdoctor render`` and ``pyenvdoctor schema``: a saved report renders again, bad files
give one line and exit 5."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema

from conftest import clean_env, cli


def test_saved_report_renders_again(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    cli(
        "report",
        "--python",
        sys.executable,
        "--format",
        "json",
        "--output",
        saved,
        env=clean_env(),
        cwd=tmp_path,
    )
    direct = cli(
        "report", "--python", sys.executable, "--format", "markdown", env=clean_env(), cwd=tmp_path
    ).stdout
    again = cli("render", saved, "--format", "markdown", env=clean_env(), cwd=tmp_path).stdout
    assert again == direct  # same report, same markdown
    text = cli("render", saved, "--format", "text", env=clean_env(), cwd=tmp_path).stdout
    assert "add --all." in text and "Interpreter" not in text
    text = cli("render", saved, "--format", "text", "--all", env=clean_env(), cwd=tmp_path).stdout
    assert "sys.path" in text and "Interpreter" in text and "┃ entry" in text
    round_trip = cli("render", saved, "--format", "json", env=clean_env(), cwd=tmp_path).stdout
    assert json.loads(round_trip) == json.loads(saved.read_text())


def test_bad_saved_reports_exit_5(tmp_path: Path) -> None:
    cases = {
        "missing.json": None,
        "junk.json": "not json",
        "other.json": json.dumps({"schema_version": "9.0"}),
        "wrongtype.json": json.dumps({"schema_version": "1.0", "tool_version": 3}),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_text(content)
        proc = cli("render", path, env=clean_env(), cwd=tmp_path, check=False)
        assert proc.returncode == 5, name
        assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_schema_command_prints_the_published_schema(tmp_path: Path) -> None:
    schema = json.loads(cli("schema", env=clean_env(), cwd=tmp_path).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    report = json.loads(
        cli(
            "report", "--python", sys.executable, "--format", "json", env=clean_env(), cwd=tmp_path
        ).stdout
    )
    jsonschema.validate(report, schema)


def test_a_newer_minor_schema_version_with_extra_keys_is_read(tmp_path: Path) -> None:
    """Issue 17: a 1.N report (N above ours) may add keys at any depth: render reads the keys
    it knows; the same extra keys under our own version are an error (exit 5)."""
    saved = tmp_path / "report.json"
    cli("report", "--python", sys.executable, "-o", saved, env=clean_env(), cwd=tmp_path)
    data = json.loads(saved.read_text())
    ours = data["schema_version"]
    major, minor = ours.split(".")
    data["zz_added_in_a_later_minor"] = {"x": 1}
    data["interpreter"]["zz_added_field"] = "y"
    data["schema_version"] = f"{major}.{int(minor) + 1}"
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(data))
    text = cli("render", newer, "--format", "markdown", env=clean_env(), cwd=tmp_path).stdout
    assert "zz_added" not in text and sys.executable.rsplit("/", 1)[-1] in text
    data["schema_version"] = ours
    newer.write_text(json.dumps(data))
    same = cli("render", newer, env=clean_env(), cwd=tmp_path, check=False)
    assert same.returncode == 5 and "unknown keys" in same.stderr
