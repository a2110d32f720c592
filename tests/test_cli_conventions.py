"""Issue 17, "consistent commands" and "the terminal": conventions users expect of a CLI, each
run as a user would (a real subprocess; a real pseudo-terminal where the terminal matters)."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from conftest import clean_env, cli

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _on_terminal(args: list[str], env: dict[str, str], cwd: Path, columns: int) -> str:
    """Run the CLI with stdout on a pseudo-terminal ``columns`` wide; its output as text."""
    main, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-I", "-m", "pyenvdoctor", *args],
        stdout=secondary,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_terminal_width_is_used_and_no_color_removes_colour_only(tmp_path: Path) -> None:
    env = clean_env()
    env.pop("COLUMNS", None)
    env["NO_COLOR"] = "1"
    text = _on_terminal(["report", "--all", "--python", sys.executable], env, tmp_path, 80)
    assert "Interpreter" in text
    assert not ANSI.search(text)
    # Every line fits but the commands, which are never broken (they paste whole).
    assert max(len(line) for line in text.splitlines() if not line.startswith("$ ")) <= 80
    short = _on_terminal(["report", "--python", sys.executable], env, tmp_path, 80)
    assert "add --all." in short and "Interpreter" not in short
    assert max(len(line) for line in short.splitlines() if not line.startswith("$ ")) <= 80
    env.pop("NO_COLOR")
    coloured = _on_terminal(["report", "--python", sys.executable], env, tmp_path, 80)
    assert ANSI.search(coloured)


def test_force_color_colours_a_pipe_and_no_color_wins(tmp_path: Path) -> None:
    env = clean_env()
    env.pop("NO_COLOR", None)
    args = ("report", "--python", sys.executable, "--format", "text")
    assert not ANSI.search(cli(*args, env=env, cwd=tmp_path).stdout)
    env["FORCE_COLOR"] = "1"
    assert ANSI.search(cli(*args, env=env, cwd=tmp_path).stdout)
    env["NO_COLOR"] = "1"
    assert not ANSI.search(cli(*args, env=env, cwd=tmp_path).stdout)


def test_output_format_follows_the_file_extension(tmp_path: Path) -> None:
    env = clean_env()
    base = ("report", "--python", sys.executable)
    cli(*base, "-o", tmp_path / "r.json", env=env, cwd=tmp_path)
    assert json.loads((tmp_path / "r.json").read_text())["schema_version"]
    cli(*base, "-o", tmp_path / "r.md", env=env, cwd=tmp_path)
    assert (tmp_path / "r.md").read_text().startswith("#")
    cli(*base, "-o", tmp_path / "r.txt", env=env, cwd=tmp_path)
    assert "add --all." in (tmp_path / "r.txt").read_text()  # the text view
    cli(*base, "--format", "json", "-o", tmp_path / "forced.md", env=env, cwd=tmp_path)
    assert json.loads((tmp_path / "forced.md").read_text())
    cli("render", tmp_path / "r.json", "-o", tmp_path / "again.json", env=env, cwd=tmp_path)
    assert json.loads((tmp_path / "again.json").read_text()) == json.loads(
        (tmp_path / "r.json").read_text()
    )


def test_diff_exits_1_when_reports_differ_0_when_not(tmp_path: Path) -> None:
    env = clean_env()
    a = tmp_path / "a.json"
    cli("report", "--python", sys.executable, "-o", a, env=env, cwd=tmp_path)
    same = cli("diff", a, a, env=env, cwd=tmp_path, check=False)
    assert same.returncode == 0, same.stderr
    data = json.loads(a.read_text())
    data["interpreter"]["platform"] = "other-platform"
    b = tmp_path / "b.json"
    b.write_text(json.dumps(data))
    differs = cli("diff", a, b, env=env, cwd=tmp_path, check=False)
    assert differs.returncode == 1, differs.stderr
    assert "other-platform" in differs.stdout


def test_no_subcommand_prints_help_and_typos_get_a_suggestion(tmp_path: Path) -> None:
    env = clean_env()
    bare = cli(env=env, cwd=tmp_path, check=False)
    assert bare.returncode == 0 and "usage: pyenvdoctor" in bare.stdout
    assert "report" in bare.stdout and "which" in bare.stdout
    typo = cli("reprot", env=env, cwd=tmp_path, check=False)
    assert typo.returncode == 2 and "did you mean report?" in typo.stderr
    option = cli("report", "--pyhton", sys.executable, env=env, cwd=tmp_path, check=False)
    assert option.returncode == 2 and "did you mean --python?" in option.stderr
