"""Issue 16: bad command-line input and unwritable output give one line on stderr and the
documented exit status, never a traceback (each run as a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env, cli


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", "-1", "0", "soon"])
def test_timeout_must_be_a_positive_finite_number(tmp_path: Path, value: str) -> None:
    for command in ("report", "which"):
        args = [command, "os"] if command == "which" else [command]
        proc = cli(*args, f"--timeout={value}", env=clean_env(), cwd=tmp_path, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "--timeout" in proc.stderr


def test_empty_python_is_a_usage_error(tmp_path: Path) -> None:
    for args in (("report", "--python", ""), ("which", "os", "--python", " ")):
        proc = cli(*args, env=clean_env(), cwd=tmp_path, check=False)
        assert proc.returncode == 2 and proc.stdout == ""
        assert "must name an interpreter" in proc.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_stdout_full_exits_4_with_one_line(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-I", "-m", "pyenvdoctor", "report", "--python", sys.executable],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
            cwd=tmp_path,
            check=False,
        )
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "pyenvdoctor: error: cannot write the report to stdout: No space left on device"
    ]


@pytest.mark.parametrize("command", ["render", "diff"])
def test_deeply_nested_json_exits_5(tmp_path: Path, command: str) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    nested = tmp_path / "nested.json"
    value = '{"k": ' * 5000 + '"x"' + "}" * 5000
    nested.write_text(f'{{"schema_version": "1.0", "tool_version": {value}}}')
    for path in (deep, nested):
        args = (command, path, path) if command == "diff" else (command, path)
        proc = cli(*args, env=clean_env(), cwd=tmp_path, check=False)
        assert proc.returncode == 5, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_control_characters_in_file_names_are_escaped_in_text_output(tmp_path: Path) -> None:
    """Issue 16: a pyc named with a newline or a terminal escape cannot fake a line of the
    plan or recolour the terminal: text output shows them as escapes; JSON keeps the name."""
    tree = tmp_path / "tree"
    cache = tree / "__pycache__"
    cache.mkdir(parents=True)
    tag = sys.implementation.cache_tag
    names = [f"a\nrm -rf ~.{tag}.pyc", f"b\x1b[2Jc.{tag}.pyc"]
    for name in names:
        (cache / name).write_bytes(b"\0" * 16)  # orphaned: no source beside it
    base = ("report", "--python", sys.executable, "--path", tree)
    text = cli(*base, "--format", "text", "--all", env=clean_env(), cwd=tmp_path, check=False)
    plan = cli(
        *base, "--fix", "--dry-run", "--format", "text", env=clean_env(), cwd=tmp_path, check=False
    )
    for out in (text.stdout, plan.stdout):
        assert "\x1b[2J" not in out
        assert not any(line.lstrip(" -│").startswith("rm -rf ~") for line in out.splitlines())
    assert "a\\nrm -rf ~" in plan.stdout and "b\\x1b[2Jc" in plan.stdout
    data = cli(*base, "--format", "json", "--no-redact", env=clean_env(), cwd=tmp_path).stdout
    assert "a\\nrm -rf ~" in data  # JSON escapes the newline itself and keeps the name exact
