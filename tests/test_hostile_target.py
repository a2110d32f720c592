"""Issue 16: a hostile target (a ``sitecustomize`` that prints at start-up and at exit, patches
``json`` or fakes the probe's marker; a ``.pth`` that puts bytes, an int, ``None`` or a NUL byte on
``sys.path``; an ``.egg-link`` or an editable finder's ``MAPPING`` with junk; a fake interpreter;
an interpreter the user cannot reach) gives a report with findings, or one line and exit 3,
never a traceback. Each case runs ``python -m pyenvdoctor`` as a real subprocess."""

from __future__ import annotations

import ast
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import clean_env, cli, make_venv, site_packages


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    return make_venv(tmp_path / "venv", sys.executable, "--without-pip")


def _report(python: Path | str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(
        "report", "--python", python, "--format", "json", "--no-redact", *args,
        env=clean_env(), cwd=cwd, check=False,
    )  # fmt: skip


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


FAKE_ANSWER = '{"probe_version": 1, "interpreter": {"executable": "/fake"}}'


def test_prints_at_start_up_and_at_exit_do_not_corrupt_the_answer(
    venv: Path, tmp_path: Path
) -> None:
    """The answer travels on its own pipe: a sitecustomize printing at start-up, and an atexit
    hook printing a fake marker and a fake answer after it, are reported as noise, and the
    report is the real interpreter's."""
    (site_packages(venv) / "sitecustomize.py").write_text(
        "import atexit\n"
        "print('hello from sitecustomize')\n"
        f"atexit.register(lambda: print('\\n--pyenvdoctor-probe-v1--\\n' + {FAKE_ANSWER!r}))\n"
    )
    # The oracle: the interpreter itself prints both, the fake answer last.
    plain = subprocess.run([venv, "-c", "pass"], capture_output=True, text=True, check=True)
    assert plain.stdout.startswith("hello from sitecustomize\n")
    assert plain.stdout.rstrip().endswith(FAKE_ANSWER)
    proc = _report(venv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["interpreter"]["executable"] == str(venv)
    noise = [f for f in data["findings"] if f["code"] == "interpreter-startup-output"]
    assert len(noise) == 1
    assert noise[0]["evidence"][0] == "hello from sitecustomize"
    assert FAKE_ANSWER in noise[0]["evidence"]


def test_a_patched_json_giving_a_malformed_answer_is_exit_3(venv: Path, tmp_path: Path) -> None:
    (site_packages(venv) / "sitecustomize.py").write_text(
        "import json\n"
        "_dumps = json.dumps\n"
        "def bad(obj):\n"
        "    return dict(obj, interpreter=dict(obj['interpreter'], version_info=['three']))\n"
        "def dumps(obj, **kw):\n"
        "    if isinstance(obj, dict) and 'interpreter' in obj:\n"
        "        obj = bad(obj)\n"
        "    if isinstance(obj, dict) and 'facts' in obj:\n"
        "        obj = dict(obj, facts=bad(obj['facts']))\n"
        "    return _dumps(obj, **kw)\n"
        "json.dumps = dumps\n"
    )
    for command in (("report",), ("which", "os")):
        proc = cli(
            *command, "--python", venv, "--format", "json",
            env=clean_env(), cwd=tmp_path, check=False,
        )  # fmt: skip
        assert _one_error_line(proc) == (
            f"pyenvdoctor: error: {venv}: the probe's answer is malformed: "
            "interpreter.version_info is not a list of 5 items"
            if command == ("report",)
            else f"pyenvdoctor: error: {venv}: the probe's answer is malformed: "
            "facts.interpreter.version_info is not a list of 5 items"
        )
        assert proc.stdout == ""


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (
            '{"probe_version": 1, "interpreter": {"version_info": ["three", 0, 0, "final", 0]}}',
            "interpreter.version_info[0] is str 'three', not int",
        ),
        ('{"probe_version": 1, "imports": {"path": ["/a", 5]}}', "imports.path[1] is int 5"),
        ('{"probe_version": 1, "site": {"imported": "yes"}}', "site.imported is str 'yes'"),
        ('{"probe_version": 1, "pth_files": [{"path": null}]}', "pth_files[0].path is NoneType"),
        ('{"probe_version": 1, "errors": "none"}', "errors is str, not a list"),
        ("[1, 2]", "not a JSON object"),
        ("{" * 100_000, "not valid JSON"),
    ],
)
def test_a_fake_interpreter_with_a_malformed_answer_is_exit_3(
    tmp_path: Path, answer: str, problem: str
) -> None:
    """A fake interpreter writes a framed answer of the wrong shape on the descriptor the host
    names (the first argument after ``-c CODE``)."""
    fake = tmp_path / "python"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"data = '\\n--pyenvdoctor-probe-v1--\\n' + {answer!r} + '\\n'\n"
        "os.write(int(sys.argv[3]), data.encode())\n"
    )
    fake.chmod(0o755)
    line = _one_error_line(_report(fake, tmp_path))
    assert line.startswith(f"pyenvdoctor: error: {fake}: ")
    assert problem in line, line


def test_a_non_executable_file_is_exit_3(tmp_path: Path) -> None:
    plain = tmp_path / "python"
    plain.write_text("#!/bin/sh\n")
    plain.chmod(0o644)
    assert _one_error_line(_report(plain, tmp_path)) == (
        f"pyenvdoctor: error: --python {plain}: {plain} is not an executable file"
    )


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory another user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pyenvdoctor-perm-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run the CLI as another user",
)
def test_python_under_a_directory_the_user_cannot_enter_is_exit_3(shared_tmp: Path) -> None:
    locked = shared_tmp / "locked"
    locked.mkdir()
    (locked / "python").symlink_to(sys.executable)
    locked.chmod(0o700)  # root's; the CLI runs as nobody
    env = clean_env(HOME=str(shared_tmp))
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # The oracle: nobody really cannot reach it.
    probe = subprocess.run(
        [*as_nobody, sys.executable, "-c", f"import os; os.stat({str(locked / 'python')!r})"],
        capture_output=True, text=True, env=env, cwd=shared_tmp, check=False,
    )  # fmt: skip
    assert "PermissionError" in probe.stderr
    for target in (locked / "python", locked):
        proc = subprocess.run(
            [*as_nobody, sys.executable, "-I", "-m", "pyenvdoctor", "report", "--python",
             str(target), "--format", "json"],
            capture_output=True, text=True, env=env, cwd=shared_tmp, check=False,
        )  # fmt: skip
        line = _one_error_line(proc)
        assert line.startswith(f"pyenvdoctor: error: --python {target}: cannot reach {target}")
        assert "permission denied" in line
    active = subprocess.run(
        [*as_nobody, sys.executable, "-I", "-m", "pyenvdoctor", "report", "--format", "json"],
        capture_output=True, text=True, env={**env, "VIRTUAL_ENV": str(locked)},
        cwd=shared_tmp, check=False,
    )  # fmt: skip
    assert "permission denied" in _one_error_line(active)


def test_junk_on_sys_path_is_a_finding(venv: Path, tmp_path: Path) -> None:
    """A ``.pth`` import line appending bytes, an int, ``None`` and a str with a NUL byte: the
    report names each (the import system skips the first three, and raises ValueError on the
    last, as CPython shows) and goes on."""
    site = site_packages(venv)
    (site / "hostile.pth").write_text(
        "import sys; sys.path.extend([b'/tmp/bytes', 5, None, '/tmp/a\\x00b'])\n"
    )
    oracle = subprocess.run(
        [venv, "-c", "import sys; print([type(p).__name__ for p in sys.path][-4:])\n"
         "try:\n    import no_such_module_here\nexcept Exception as e: print(repr(e))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert oracle.stdout.splitlines() == [
        "['bytes', 'int', 'NoneType', 'str']",
        "ValueError('embedded null byte')",
    ]
    proc = _report(venv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    messages = [f["message"] for f in data["findings"] if f["code"] == "probe-step-failed"]
    assert any("is bytes b'/tmp/bytes', not str" in m for m in messages), messages
    assert any("is int 5, not str" in m for m in messages)
    assert any("is NoneType None, not str" in m for m in messages)
    assert any("'/tmp/a\\x00b', which holds a NUL byte" in m for m in messages)
    assert data["interpreter"]["executable"] == str(venv)
    assert all(isinstance(e["path"], str) and "\0" not in e["path"] for e in data["sys_path"])


def test_a_nul_byte_in_an_egg_link_is_a_dangling_link(venv: Path, tmp_path: Path) -> None:
    site = site_packages(venv)
    project = tmp_path / "proj"
    (project / "foo.egg-info").mkdir(parents=True)
    (project / "foo.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"
    )
    (site / "foo.egg-link").write_bytes(str(project).encode() + b"\0evil\n.\n")
    (site / "easy-install.pth").write_text(f"{project}\n")
    proc = _report(venv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    dangling = [f for f in data["findings"] if f["code"] == "egg-link-dangling"]
    assert [f["evidence"] for f in dangling] == [[str(site / "foo.egg-link"), f"{project}\0evil"]]
    foo = [d for d in data["distributions"] if d["name"] == "foo"]
    assert foo and foo[0]["editable_project"] is None  # no project path holds a NUL byte


def test_an_editable_finder_mapping_with_junk_values(venv: Path, tmp_path: Path) -> None:
    site = site_packages(venv)
    info = site / "foo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n")
    source = tmp_path / "src" / "foo"
    source.mkdir(parents=True)
    (site / "__editable___foo_1_0_finder.py").write_text(
        f"MAPPING = {{1: 2, 'bar': None, b'x': '/p', 'baz': ['a'], 'foo': {str(source)!r}}}\n"
    )
    (site / "__editable__.foo-1.0.pth").write_text("import __editable___foo_1_0_finder\n")
    proc = _report(venv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    foo = [d for d in json.loads(proc.stdout)["distributions"] if d["name"] == "foo"]
    assert foo[0]["editable_project"] == str(source.parent)


def test_mode_bits_of_the_fake_interpreter_matter(tmp_path: Path) -> None:
    """Guard for the non-executable case above: the same file with its x bit runs."""
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    assert script.stat().st_mode & stat.S_IXUSR
    line = _one_error_line(_report(script, tmp_path))
    assert "not a working Python interpreter (hi)" in line


def test_junk_on_sys_path_keeps_the_real_indices(venv: Path, tmp_path: Path) -> None:
    """Entries left out of the report (an int and bytes a ``.pth`` line inserted in the middle
    of ``sys.path``) do not shift the others: ``sys_path[i]`` in the report, and the indices
    ``which`` prints, are ``sys.path[i]`` of the target, as the target prints it."""
    site = site_packages(venv)
    later = tmp_path / "later"
    (later / "laterpkg").mkdir(parents=True)
    (later / "laterpkg" / "__init__.py").write_text("")
    (site / "hostile.pth").write_text(
        f"import sys; sys.path[1:1] = [7, b'/tmp/bytes']; sys.path.append({str(later)!r})\n"
    )
    oracle = subprocess.run(
        [venv, "-c", "import sys; print(repr(sys.path))"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env=clean_env(),
    )  # fmt: skip
    real = ast.literal_eval(oracle.stdout)  # str, bytes and int items
    junk = [i for i, p in enumerate(real) if not isinstance(p, str)]
    assert junk and junk[-1] < len(real) - 2 and real[-1] == str(later), real
    proc = _report(venv, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    entries = data["sys_path"]
    assert [e["index"] for e in entries] == [i for i, p in enumerate(real) if isinstance(p, str)]
    for e in entries:
        expected = str(tmp_path) if real[e["index"]] == "" else real[e["index"]]
        assert e["path"] in (real[e["index"]], expected), (e, real)
    assert entries[-1]["path"] == str(later) and entries[-1]["index"] == len(real) - 1
    messages = [f["message"] for f in data["findings"] if f["code"] == "probe-step-failed"]
    for i in junk:
        what = "int 7" if real[i] == 7 else "bytes b'/tmp/bytes'"
        assert any(m.startswith(f"sys.path[{i}] is {what}, not str") for m in messages), messages
    which = cli(
        "which", "laterpkg", "--python", venv, "--format", "json", "--no-redact",
        env=clean_env(), cwd=tmp_path, check=False,
    )  # fmt: skip
    assert which.returncode == 0, which.stderr
    candidates = json.loads(which.stdout)["levels"][0]["candidates"]
    assert [c["index"] for c in candidates] == [i for i, p in enumerate(real) if p == str(later)], (
        candidates
    )
