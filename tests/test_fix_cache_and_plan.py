"""Issue 15: without pip in the target, ``pip-cache-large`` removes what ``pip cache purge``
would (pip itself is the oracle, run on an identical copy of the cache), and only files this
user owns, unless ``--include-system``; and the plan printed on stderr before the prompt is
redacted like the rest of the ``--fix`` output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (
    clean_env,
    cli,
    make_venv,
    pty_read_all,
    pty_read_until,
    pty_spawn,
    require_python,
)

TAG = sys.implementation.cache_tag
NOBODY = 65534


def _cache(root: Path) -> None:
    """A pip cache as pip lays it out, with files pip's purge keeps and one of another user."""
    (root / "http-v2" / "a" / "b").mkdir(parents=True)
    with open(root / "http-v2" / "a" / "b" / "big", "wb") as f:  # sparse: 1 GiB, no disk
        f.truncate(1 << 30)
    (root / "http-v2" / "a" / "b" / "big.body").write_bytes(b"body")
    (root / "http" / "c").mkdir(parents=True)
    (root / "http" / "c" / "old").write_bytes(b"old")
    (root / "wheels" / "d").mkdir(parents=True)
    (root / "wheels" / "d" / "foo-1.0-py3-none-any.whl").write_bytes(b"PK")
    (root / "wheels" / "d" / "origin.json").write_text("{}")  # not a wheel: pip keeps it
    (root / "selfcheck").mkdir()
    (root / "selfcheck" / "state.json").write_text("{}")
    (root / "notes.txt").write_text("the user's own file in PIP_CACHE_DIR\n")
    theirs = root / "http-v2" / "a" / "theirs"
    theirs.write_bytes(b"another user's")
    os.chown(theirs, NOBODY, NOBODY)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a file of another user")
def test_cache_deletion_without_pip_matches_pip_and_spares_other_users(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    mine, oracle = tmp_path / "cache", tmp_path / "oracle-cache"
    _cache(mine)
    _cache(oracle)
    # The oracle: pip 24 (which knows http-v2; 23.2 purges http only) purges its copy (as
    # root, another user's file goes too).
    pip_python = require_python("3.13")
    purge = subprocess.run(
        [pip_python, "-m", "pip", "--disable-pip-version-check", "cache", "purge"],
        capture_output=True, text=True, env=clean_env(PIP_CACHE_DIR=str(oracle)), check=True,
    )  # fmt: skip
    assert "Files removed: 5" in purge.stdout, purge.stdout
    pip_kept = _files(oracle)
    assert pip_kept == {"notes.txt", "selfcheck/state.json", "wheels/d/origin.json"}

    env = clean_env(PIP_CACHE_DIR=str(mine))
    args = ("report", "--python", venv, "--fix", "pip-cache-large", "--yes", "--format", "json")
    out = json.loads(cli(*args, "--no-redact", env=env, cwd=tmp_path).stdout)
    action = next(a for a in out["plan"] if a["finding"] == "pip-cache-large")
    assert {"path": str(mine / "http-v2" / "a" / "theirs"),
            "reason": "owned by another user (use --include-system)"} in action["left_alone"]  # fmt: skip
    assert _files(mine) == pip_kept | {"http-v2/a/theirs"}
    assert (mine / "http-v2" / "a" / "theirs").stat().st_uid == NOBODY

    # --include-system: the same files as pip, no more.
    shutil.rmtree(mine)
    _cache(mine)
    cli(*args, "--include-system", env=env, cwd=tmp_path)
    assert _files(mine) == pip_kept


def test_cache_deletion_without_pip_does_not_follow_symlinks(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "venv", sys.executable, "--without-pip")
    cache = tmp_path / "cache"
    (cache / "http-v2").mkdir(parents=True)
    with open(cache / "http-v2" / "big", "wb") as f:
        f.truncate(1 << 30)
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "deep").mkdir(parents=True)
    (elsewhere / "deep" / "precious").write_text("x")
    (elsewhere / "file").write_text("y")
    (cache / "http-v2" / "dir-link").symlink_to(elsewhere / "deep")
    (cache / "http-v2" / "file-link").symlink_to(elsewhere / "file")
    (cache / "wheels").symlink_to(elsewhere)  # a symlinked wheels directory is not entered
    (elsewhere / "x-1.0-py3-none-any.whl").write_text("z")
    env = clean_env(PIP_CACHE_DIR=str(cache))
    cli("report", "--python", venv, "--fix", "pip-cache-large", "--yes", env=env, cwd=tmp_path)
    assert not (cache / "http-v2" / "big").exists()
    assert (elsewhere / "deep" / "precious").read_text() == "x"
    assert (elsewhere / "file").read_text() == "y"
    assert (elsewhere / "x-1.0-py3-none-any.whl").exists()
    assert (cache / "http-v2" / "file-link").is_symlink()


def _home_tree(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    home = tmp_path / "home"
    project = home / "proj"
    (project / "__pycache__").mkdir(parents=True)
    (project / "setup.py").write_text("")
    (project / "__pycache__" / f"gone.{TAG}.pyc").write_bytes(b"\0" * 32)
    return home, project, clean_env(HOME=str(home))


def test_the_plan_on_stderr_is_redacted_like_the_output(tmp_path: Path) -> None:
    home, project, env = _home_tree(tmp_path)
    args = ("report", "--python", sys.executable, "--fix", "bytecode-orphaned", "--yes")
    redacted = cli(*args, "--format", "json", env=env, cwd=project)
    assert "gone." in redacted.stderr  # the plan is there ...
    assert str(home) not in redacted.stderr and "~/proj/__pycache__/gone." in redacted.stderr
    (project / "__pycache__").mkdir()  # the fix removed it, emptied
    (project / "__pycache__" / f"gone.{TAG}.pyc").write_bytes(b"\0" * 32)
    kept = cli(*args, "--format", "json", "--no-redact", env=env, cwd=project)
    assert str(project / "__pycache__" / f"gone.{TAG}.pyc") in kept.stderr


def test_the_plan_at_the_prompt_is_redacted_with_redact(tmp_path: Path) -> None:
    home, project, env = _home_tree(tmp_path)
    argv = [str(Path(sys.executable).parent / "pyenvdoctor"), "report", "--python",
            sys.executable, "--fix", "--format", "text", "--redact"]  # fmt: skip
    pid, fd = pty_spawn(argv, project, env)
    out = pty_read_until(fd, b"[y/N]")
    os.write(fd, b"n\n")
    out += pty_read_all(fd, idle=10)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 6
    text = out.decode()
    assert "[y/N]" in text and "gone." in text
    assert str(home) not in text and "~/proj/__pycache__" in text
