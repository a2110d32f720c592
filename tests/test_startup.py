"""Issue 13 (speed): what the CLI does before the target boots and after the report is written.

The probe and the shim lookups start before the model is imported (its dataclasses take tens of
milliseconds), the argument checks run while the target boots, and the process ends without
the interpreter's teardown (``cli.run``). Each test runs the CLI as a user would (a real
subprocess, a real target) and checks what the user sees: the whole report, the exit status,
one line for an error, nothing left running, nothing left in the temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from conftest import clean_env, cli

#: Imported by the time the probe starts: ``build_parser``, the subreaper, ``shims``, ``launch``.
BEFORE_THE_PROBE = """\
import sys
from pyenvdoctor import cli, process
cli.build_parser().parse_args(["report", "--format", "json"])
process.become_subreaper()
from pyenvdoctor import launch, shims
heavy = sorted(m for m in ("pyenvdoctor.model", "pyenvdoctor.render", "dataclasses", "tempfile",
                           "packaging", "importlib_metadata") if m in sys.modules)
print(",".join(heavy))
"""


def test_nothing_heavy_is_imported_before_the_probe_starts() -> None:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", BEFORE_THE_PROBE],
        capture_output=True,
        text=True,
        env=clean_env(),
        check=True,
    )
    assert proc.stdout.strip() == "", proc.stdout


def test_the_report_is_whole_through_a_pipe_and_the_status_survives_the_fast_exit(
    tmp_path: Path,
) -> None:
    # Every report has info findings: --fail-on info exits 1, and the JSON is complete.
    proc = cli(
        "report", "--python", sys.executable, "--format", "json", "--fail-on", "info",
        cwd=tmp_path, env=clean_env(), check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["findings"] and proc.stderr == ""
    assert proc.stdout.endswith("\n")


def test_a_usage_error_found_while_the_target_boots_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    """``--ignore`` is checked after the probe started: the target, still in its start-up
    (a sitecustomize that sleeps), is killed with its group, and the error is one line."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    pid_file = tmp_path / "target.pid"
    (site / "sitecustomize.py").write_text(
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    started = time.monotonic()
    proc = cli(
        "report", "--python", env_dir / "bin" / "python", "--ignore", "no-such-code",
        cwd=tmp_path, env=clean_env(), check=False,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "pyenvdoctor: error: --ignore 'no-such-code': no finding has this code; the codes are "
        'listed in the README, "Finding codes"'
    ]
    time.sleep(1.0)  # a target that survived would have written its pid by now
    if pid_file.exists():
        pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_usage_error_comes_before_an_interpreter_that_does_not_exist(tmp_path: Path) -> None:
    proc = cli(
        "report", "--python", tmp_path / "nothing", "--ignore", "no-such-code",
        cwd=tmp_path, env=clean_env(), check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "--ignore 'no-such-code'" in proc.stderr


@pytest.mark.parametrize("command", [["report", "--format", "json"], ["which", "json"]])
def test_a_removed_working_directory_is_one_line_and_no_temporary_directory_is_left(
    tmp_path: Path, command: list[str]
) -> None:
    """Run from a directory removed after the shell entered it (``cd d; rm -r ../d``)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = subprocess.run(
        [
            "sh", "-c", 'cd "$1" && rmdir "$1" && shift && exec "$@"', "sh", gone,
            sys.executable, "-I", "-m", "pyenvdoctor", *command, "--python", sys.executable,
        ],
        capture_output=True, text=True, env=clean_env(TMPDIR=str(temp)), check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "pyenvdoctor: error: the working directory cannot be found (No such file or directory):"
        " it was removed or cannot be read; cd to an existing directory"
    ]
    assert proc.stdout == ""
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("collect", [True, False])
def test_the_probe_directory_for_no_working_directory_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, collect: bool
) -> None:
    """Without a working directory the probe runs in an empty directory of its own, removed
    when the answer is read, or by ``close`` when nobody asks (which kills the target)."""
    import tempfile

    from pyenvdoctor.launch import RunningProbe

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    running = RunningProbe(sys.executable, working_directory=None)
    made = list(tmp_path.iterdir())
    assert [p.name.startswith("pyenvdoctor-probe-") for p in made] == [True]
    if collect:
        result = running.result()
        assert result.data["cwd"] == made[0].name or result.data["cwd"].endswith(made[0].name)
    running.close()
    assert list(tmp_path.iterdir()) == []
    assert running.answered()
