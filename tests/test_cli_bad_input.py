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
