"""Every repair ``--fix`` runs, on a real environment: the user's code prints the old value,
``report --fix CODE --yes`` runs the repair shown in the plan, the finding is gone and the code
prints the new value. Nothing the user wrote is changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    DEBIAN_PYTHON,
    clean_env,
    cli,
    fix_json,
    make_venv,
    make_wheel,
    report_json,
    require_python,
    run,
    site_packages,
)


def codes(data: dict[str, Any]) -> set[str]:
    return {f["code"] for f in data["findings"]}


def finding(data: dict[str, Any], code: str) -> dict[str, Any]:
    (found,) = [f for f in data["findings"] if f["code"] == code]
    assert isinstance(found, dict)
    return found


def output(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    """What the user's command prints (stdout and stderr), or its error (a ``#!`` line naming a
    missing interpreter fails at exec)."""
    try:
        proc = run(list(cmd), cwd=cwd, env=env or clean_env(), check=False)
    except OSError as exc:
        return str(exc)
    return (proc.stdout + proc.stderr).strip()


def write_setuptools_project(root: Path, name: str, value: str, *, scripts: bool = False) -> Path:
    """A src-layout setuptools project ``name`` whose ``VALUE`` is ``value``; returns the
    module file."""
    pkg = root / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(f"VALUE = {value!r}\n\ndef main():\n    print(VALUE)\n")
    text = (
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\n'
    )
    if scripts:
        text += f'[project.scripts]\n{name} = "{name}:main"\n'
    (root / "pyproject.toml").write_text(text)
    return pkg / "__init__.py"


def test_console_scripts_of_a_moved_venv_are_reinstalled(tmp_path: Path) -> None:
    """A venv renamed with ``mv``: its scripts name the old interpreter. ``--fix`` reinstalls the
    current project editable and a regular distribution by its exact version (from the user's
    own find-links), so pip writes their ``#!`` lines again; both commands run again."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(
        wheels,
        "tool",
        "1.0",
        files={
            "tool.py": "def main():\n    print('tool works')\n",
            "tool-1.0.dist-info/entry_points.txt": "[console_scripts]\ntool = tool:main\n",
        },
    )
    project = tmp_path / "proj"
    module = write_setuptools_project(project, "tracker", "v1", scripts=True)
    venv_py = make_venv(tmp_path / "proj" / "venv")
    env = clean_env(PIP_FIND_LINKS=str(wheels))
    run([venv_py, "-m", "pip", "install", "-q", "--no-index", "tool==1.0"], env=env)
    run([venv_py, "-m", "pip", "install", "-q", "-e", project], env=env)
    (project / "venv").rename(project / ".venv")
    bin_dir = project / ".venv" / "bin"
    module.write_text("VALUE = 'v2-edited'\n\ndef main():\n    print(VALUE)\n")
    assert "v2-edited" not in output([bin_dir / "tracker"], tmp_path)  # bad interpreter
    assert "tool works" not in output([bin_dir / "tool"], tmp_path)
    py = bin_dir / "python"
    before = report_json(py, env, project)
    repairs = finding(before, "console-script-missing-interpreter")["repairs"]
    commands = {tuple(r["command"][3:]) for r in repairs}
    assert ("install", "-e", str(project)) in commands
    assert ("install", "--force-reinstall", "--no-deps", "tool==1.0") in commands
    printed = finding(before, "console-script-missing-interpreter")["commands"]
    assert printed == [shlex.join(r["command"]) for r in repairs]
    out = fix_json(py, "console-script-missing-interpreter", env=env, cwd=project)
    assert {tuple(c["command"][3:]) for c in out["outcome"]["commands"]} == commands
    assert all(c["exit_status"] == 0 for c in out["outcome"]["commands"])
    assert out["resolved"] == ["console-script-missing-interpreter"] and out["remaining"] == []
    assert output([bin_dir / "tracker"], tmp_path) == "v2-edited"
    assert output([bin_dir / "tool"], tmp_path) == "tool works"


def test_strict_editable_is_installed_again_for_a_new_module(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    write_setuptools_project(project, "plugs", "v1")
    venv_py = make_venv(tmp_path / "venv")
    run(
        [
            venv_py,
            "-m",
            "pip",
            "install",
            "-q",
            "-e",
            project,
            "--config-settings",
            "editable_mode=strict",
        ]
    )
    new = project / "src" / "plugs" / "exporters.py"
    new.write_text("VALUE = 'exporters-new'\n")
    code: list[str | Path] = [venv_py, "-c", "import plugs.exporters as e; print(e.VALUE)"]
    assert "No module named 'plugs.exporters'" in output(code, tmp_path)
    before = report_json(venv_py, None, project)
    found = finding(before, "editable-strict-missing-modules")
    assert str(new) in found["evidence"]
    # the printed command is the repair --fix runs (docs/commands-tested.md)
    assert found["commands"] == [shlex.join(r["command"]) for r in found["repairs"]]
    out = fix_json(venv_py, "editable-strict-missing-modules", cwd=project)
    (command,) = [c["command"] for c in out["outcome"]["commands"]]
    assert command[3:] == [
        "install",
        "-e",
        str(project),
        "--config-settings",
        "editable_mode=strict",
    ]
    assert out["resolved"] == ["editable-strict-missing-modules"]
    assert output(code, tmp_path) == "exporters-new"


def test_a_stale_pth_line_is_removed_and_its_old_content_logged(tmp_path: Path) -> None:
    """``00devpaths.pth`` (processed before the editable install's ``__editable__.*.pth``) names an
    old checkout: only that line goes, the other line stays, the log keeps the old content."""
    old = tmp_path / "old-checkout"
    (old / "tally").mkdir(parents=True)
    (old / "tally" / "__init__.py").write_text("VALUE = 'tally-2022'\n")
    (old / "tally" / "__init__.py").chmod(0o644)
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    project = tmp_path / "proj"
    module = write_setuptools_project(project, "tally", "v3")
    venv_py = make_venv(tmp_path / "venv")
    run([venv_py, "-m", "pip", "install", "-q", "-e", project])
    pth = site_packages(venv_py) / "00devpaths.pth"
    pth.write_text(f"# from an old bootstrap script\n{old}\n{fixtures}\n")
    module.write_text("VALUE = 'v3-edited'\n")
    code: list[str | Path] = [venv_py, "-c", "import tally; print(tally.VALUE)"]
    assert output(code, tmp_path) == "tally-2022"
    old_checkout = hashlib.sha256((old / "tally" / "__init__.py").read_bytes()).hexdigest()
    before = report_json(venv_py, None, project)
    found = finding(before, "pth-entry-shadows-editable")
    assert found["evidence"][:2] == [str(pth), str(old)]
    log = tmp_path / "fix.log"
    proc = cli(
        "report", "--python", venv_py, "--fix", "pth-entry-shadows-editable", "--yes",
        "--format", "json", "--log", log, cwd=project, env=clean_env(),
    )  # fmt: skip
    out = json.loads(proc.stdout)
    assert "pth-entry-shadows-editable" in proc.stderr  # the plan, shown before the change
    (edit,) = out["outcome"]["pth_edits"]
    assert edit["removed_lines"] == [str(old)]
    assert out["resolved"] == ["pth-entry-shadows-editable"]
    assert pth.read_text() == f"# from an old bootstrap script\n{fixtures}\n"
    (record,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert record["event"] == "pth-edited"
    assert record["old_content"] == f"# from an old bootstrap script\n{old}\n{fixtures}\n"
    assert output(code, tmp_path) == "v3-edited"
    assert hashlib.sha256((old / "tally" / "__init__.py").read_bytes()).hexdigest() == old_checkout


def test_a_pth_file_a_distribution_installed_is_never_edited(tmp_path: Path) -> None:
    """The old checkout comes from a ``.pth`` that a wheel installed (listed in its RECORD): the
    finding explains, and carries no repair."""
    old = tmp_path / "old-checkout"
    (old / "tally").mkdir(parents=True)
    (old / "tally" / "__init__.py").write_text("VALUE = 'tally-2022'\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "devpaths", "1.0", files={"00devpaths.pth": f"{old}\n"})
    project = tmp_path / "proj"
    write_setuptools_project(project, "tally", "v3")
    venv_py = make_venv(tmp_path / "venv")
    run([venv_py, "-m", "pip", "install", "-q", "-e", project])
    run([venv_py, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, "devpaths"])
    before = report_json(venv_py, None, project)
    assert finding(before, "pth-entry-shadows-editable")["repairs"] == []


def _user_site_copy(
    base: Path, user_base: Path, wheels: Path, name: str, *pip_args: str
) -> dict[str, str]:
    make_wheel(wheels, name, "0.1", files={f"{name}/__init__.py": "VALUE = 'user-site copy'\n"})
    env = clean_env(PYTHONUSERBASE=str(user_base), PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels))
    run([base, "-m", "pip", "install", "-q", "--user", *pip_args, f"{name}==0.1"], env=env)
    return env


def test_a_user_site_copy_is_uninstalled_with_the_base_interpreters_pip(tmp_path: Path) -> None:
    """A venv with system site packages: ``site`` adds the venv's site-packages, then the user
    site, then the base site-packages. A user-site copy of a distribution the base interpreter
    has shadows it; the venv's pip cannot uninstall outside the venv, the base interpreter's pip
    does, and removes the user-site copy only (the user base is in tmp_path; the base
    interpreter's own copy is compared byte for byte)."""
    base = require_python("3.11")
    base_site = Path(
        run([base, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip()
    )
    name = next((n for n in ("backcall", "blinker", "certifi") if (base_site / n).is_dir()), None)
    if name is None:
        pytest.skip("the base interpreter has none of the distributions this test shadows")
    before_hashes = _tree_hashes(base_site / name)
    user_base, wheels = tmp_path / "userbase", tmp_path / "wheels"
    wheels.mkdir()
    env = _user_site_copy(base, user_base, wheels, name)
    venv_py = make_venv(tmp_path / "venv", base, "--system-site-packages")
    code: list[str | Path] = [
        venv_py,
        "-c",
        f"import {name}; print(getattr({name}, 'VALUE', {name}.__file__))",
    ]
    assert output(code, tmp_path, env) == "user-site copy"
    before = report_json(venv_py, env, tmp_path)
    (repair,) = finding(before, "user-site-shadows")["repairs"]
    assert os.path.realpath(repair["command"][0]) == os.path.realpath(base)
    assert repair["command"][1:] == ["-m", "pip", "uninstall", "-y", name]
    out = fix_json(venv_py, "user-site-shadows", env=env, cwd=tmp_path)
    assert out["outcome"]["commands"][0]["exit_status"] == 0
    assert out["resolved"] == ["user-site-shadows"]
    assert output(code, tmp_path, env).startswith(str(base_site / name))
    assert _tree_hashes(base_site / name) == before_hashes


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts
    }


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian /usr/bin/python3")
def test_a_user_site_copy_on_debian_needs_break_system_packages(tmp_path: Path) -> None:
    """Debian's python3 is externally managed (PEP 668): pip refuses even to uninstall from the
    user site without ``--break-system-packages``. The dpkg-owned copy below is untouched."""
    debian_copy = Path("/usr/lib/python3/dist-packages/crcmod")
    if shutil.which("dpkg") is None or not debian_copy.is_dir():
        pytest.skip("no dpkg-installed crcmod to shadow")
    owner = subprocess.run(
        ["dpkg", "-S", str(debian_copy)], capture_output=True, text=True, check=False
    )
    assert owner.returncode == 0  # dpkg owns it: it must survive
    before_hashes = _tree_hashes(debian_copy)
    user_base, wheels = tmp_path / "userbase", tmp_path / "wheels"
    wheels.mkdir()
    env = _user_site_copy(DEBIAN_PYTHON, user_base, wheels, "crcmod", "--break-system-packages")
    code: list[str | Path] = [
        DEBIAN_PYTHON,
        "-c",
        "import crcmod; print(getattr(crcmod, 'VALUE', crcmod.__file__))",
    ]
    assert output(code, tmp_path, env) == "user-site copy"
    data = report_json(DEBIAN_PYTHON, env, tmp_path)
    (repair,) = finding(data, "user-site-shadows")["repairs"]
    assert finding(data, "user-site-shadows")["commands"] == [shlex.join(repair["command"])]
    assert repair["command"][1:] == [
        "-m", "pip", "uninstall", "-y", "--break-system-packages", "crcmod",
    ]  # fmt: skip
    out = fix_json(DEBIAN_PYTHON, "user-site-shadows", env=env, cwd=tmp_path)
    assert out["outcome"]["commands"][0]["exit_status"] == 0
    assert out["resolved"] == ["user-site-shadows"]
    assert output(code, tmp_path, env) == str(debian_copy / "__init__.py")
    assert _tree_hashes(debian_copy) == before_hashes


def _build_extension(pkg: Path, python: Path, body: str) -> Path:
    """Compile ``pkg/_speedups<EXT_SUFFIX>`` whose ``scale()`` returns ``body`` (gcc)."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build an extension")
    info = run(
        [python, "-c", "import sysconfig as s; print(s.get_config_var('EXT_SUFFIX')); "
         "print(s.get_paths()['include'])"]
    ).stdout.split()  # fmt: skip
    source = pkg.parent / "_speedups.c"
    source.write_text(
        "#include <Python.h>\n"
        "static PyObject *scale(PyObject *s, PyObject *a) { return PyUnicode_FromString("
        f'"{body}"); }}\n'
        'static PyMethodDef m[] = {{"scale", scale, METH_O, NULL}, {NULL, NULL, 0, NULL}};\n'
        "static struct PyModuleDef d = {PyModuleDef_HEAD_INIT, "
        f'"{pkg.name}._speedups", NULL, -1, m}};\n'
        "PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&d); }\n"
    )
    so = pkg / f"_speedups{info[0]}"
    run(["gcc", "-shared", "-fPIC", "-O0", f"-I{info[1]}", source, "-o", so])
    source.unlink()
    return so


def test_an_old_in_place_extension_is_removed(tmp_path: Path) -> None:
    """An extension older than the ``.py`` beside it, listed in no RECORD, is removed; the
    edited ``.py`` runs. A current extension (newer than its source) stays."""
    project = tmp_path / "proj"
    write_setuptools_project(project, "geokit", "v1")
    venv_py = make_venv(tmp_path / "venv")
    run([venv_py, "-m", "pip", "install", "-q", "-e", project])
    pkg = project / "src" / "geokit"
    so = _build_extension(pkg, venv_py, "C v1")
    two_days_ago = so.stat().st_mtime - 2 * 86400
    os.utime(so, (two_days_ago, two_days_ago))
    (pkg / "_speedups.py").write_text("def scale(x):\n    return 'python v2-edited'\n")
    code: list[str | Path] = [venv_py, "-c", "import geokit._speedups as s; print(s.scale(1))"]
    assert output(code, tmp_path) == "C v1"
    out = fix_json(venv_py, "extension-shadows-source", cwd=project)
    (action,) = out["plan"]
    assert action["group"] == "removes-debris"
    assert [f["path"] for f in action["files"]] == [str(so)]
    assert out["resolved"] == ["extension-shadows-source"]
    assert not so.exists() and output(code, tmp_path) == "python v2-edited"
    current = _build_extension(pkg, venv_py, "C v3")  # newer than the .py: a current build
    dry = json.loads(
        cli(
            "report", "--python", venv_py, "--fix", "extension-shadows-source", "--dry-run",
            "--format", "json", cwd=project,
        ).stdout
    )  # fmt: skip
    assert dry["plan"] == [] and current.exists()


def test_a_symlinked_pycache_is_not_followed(tmp_path: Path) -> None:
    """Stale bytecode reached through a symlinked ``__pycache__`` lies outside the tree: it is
    never removed, whatever the scan reports."""
    outside = tmp_path / "outside"
    outside.mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "setup.py").write_text("")
    (project / "mod.py").write_text("VALUE = 1\n")
    tag = sys.implementation.cache_tag
    victim = outside / f"gone.{tag}.pyc"
    victim.write_bytes(b"\0" * 32)
    (project / "__pycache__").symlink_to(outside)
    out = fix_json(sys.executable, cwd=project, check=False)
    removed = [
        f["path"] for f in (out["outcome"] or {"files": []})["files"] if f["status"] == "removed"
    ]
    assert victim.exists() and not any(p.startswith(str(project / "__pycache__")) for p in removed)
    assert sysconfig.get_config_var("EXT_SUFFIX")  # the host is a CPython


def test_a_venv_whose_base_is_gone_is_made_again(tmp_path: Path) -> None:
    """The base interpreter a venv was made from (through a symlinked directory) is deleted:
    the venv cannot start, and ``python`` on PATH runs another environment. The report names
    ``home`` and that environment (exit 3); ``--fix`` makes the venv again with the same
    version and installs the project editable; the edit runs."""
    real = require_python("3.10")
    version = run([real, "-c", "import platform; print(platform.python_version())"]).stdout.strip()
    prefix = Path(os.path.realpath(real)).parent.parent
    if prefix.name != version:
        pytest.skip("the 3.10 interpreter is not in a pyenv versions/<version> directory")
    link = tmp_path / "opt" / "python-3.10"
    link.parent.mkdir()
    link.symlink_to(prefix)
    project = tmp_path / "proj"
    module = write_setuptools_project(project, "notes", "v1")
    run([link / "bin" / "python3.10", "-m", "venv", project / ".venv"])
    venv_py = project / ".venv" / "bin" / "python"
    run([venv_py, "-m", "pip", "install", "-q", "-e", project])
    other = make_venv(tmp_path / "tools")
    link.unlink()
    module.write_text("VALUE = 'v2-edited'\n")
    env = clean_env(
        PATH=f"{project / '.venv' / 'bin'}:{other.parent}:{os.environ['PATH']}",
        PYENV_ROOT=str(prefix.parent.parent),
    )
    code: list[str | Path] = ["bash", "-c", "python -c 'import notes; print(notes.VALUE)'"]
    assert "No module named 'notes'" in output(code, tmp_path, env)  # the tools venv runs
    proc = cli(
        "report", "--python", venv_py, "--format", "json", "--no-redact",
        env=env, cwd=project, check=False,
    )  # fmt: skip
    assert proc.returncode == 3
    (found,) = json.loads(proc.stdout)["findings"]
    assert found["code"] == "venv-base-missing"
    assert f"home = {link / 'bin'}" in found["evidence"]
    assert any(str(other) in e for e in found["evidence"])
    # the printed commands are the repairs --fix runs, in order (docs/commands-tested.md)
    assert found["commands"] == [shlex.join(r["command"]) for r in found["repairs"]]
    out = fix_json(venv_py, "venv-base-missing", env=env, cwd=project)
    assert [c["command"][1:4] for c in out["outcome"]["commands"]] == [
        ["-m", "venv", "--clear"],
        ["-m", "pip", "install"],
    ]
    assert out["resolved"] == ["venv-base-missing"] and out["remaining"] == []
    assert output(code, tmp_path, env) == "v2-edited"


def test_egginsert_lines_are_removed_and_the_eggs_stay_after_site_packages(tmp_path: Path) -> None:
    """easy_install's ``easy-install.pth`` moves an old egg before the standard library and
    site-packages; removing its two ``__egginsert`` lines (and only them) puts the egg back in
    line, and the copy in site-packages runs."""
    venv_py = make_venv(tmp_path / "venv")
    sp = site_packages(venv_py)
    egg = sp / "shapes-1.0-py3.egg"
    (egg / "shapes").mkdir(parents=True)
    (egg / "shapes" / "__init__.py").write_text("VALUE = 'old egg'\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "shapes", "2.0", files={"shapes/__init__.py": "VALUE = 'shapes-2.0'\n"})
    run([venv_py, "-m", "pip", "install", "-q", "--no-index", "--find-links", wheels, "shapes"])
    head = "import sys; sys.__plen = len(sys.path)"
    tail = (
        "import sys; new = sys.path[sys.__plen:]; del sys.path[sys.__plen:]; "
        "p = getattr(sys, '__egginsert', 0); sys.path[p:p] = new; sys.__egginsert = p + len(new)"
    )
    pth = sp / "easy-install.pth"
    pth.write_text(f"{head}\n./{egg.name}\n{tail}\n")
    code: list[str | Path] = [venv_py, "-c", "import shapes; print(shapes.VALUE)"]
    assert output(code, tmp_path) == "old egg"
    out = fix_json(venv_py, "pth-egginsert", cwd=tmp_path)
    (edit,) = out["outcome"]["pth_edits"]
    assert edit["removed_lines"] == [head, tail]
    assert out["resolved"] == ["pth-egginsert"]
    assert pth.read_text() == f"./{egg.name}\n"
    assert output(code, tmp_path) == "shapes-2.0"


def test_a_stale_accepted_pyc_under_pycache_prefix_is_removed(tmp_path: Path) -> None:
    """Issue 15: under ``PYTHONPYCACHEPREFIX`` the bytecode tree mirrors the source's absolute
    path; the re-check at removal maps the pyc back to that source (it was taken for
    ``PREFIX/.../mod.py`` and skipped as "source gone"). The user's program prints the new
    value afterwards; CPython ran the old code before."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "setup.py").write_text("")
    source = project / "mod.py"
    source.write_text("VALUE = 'old'\n")
    prefix = tmp_path / "prefix"
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    program = [sys.executable, "-c", "import mod; print(mod.VALUE)"]
    assert output(program, project, env) == "old"  # writes PREFIX/.../proj/mod.*.pyc
    st = source.stat()
    source.write_text("VALUE = 'new'\n")  # same size, mtime kept: CPython keeps the old pyc
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert output(program, project, env) == "old"
    out = fix_json(sys.executable, "bytecode-stale-accepted", cwd=project, env=env)
    removed = [f["path"] for f in out["outcome"]["files"] if f["status"] == "removed"]
    assert len(removed) == 1 and removed[0].startswith(str(prefix)), out["outcome"]
    assert output(program, project, env) == "new"
    assert source.read_text() == "VALUE = 'new'\n"


def test_a_reinstall_says_it_may_reach_the_index_and_pip_does(tmp_path: Path) -> None:
    """Issue 15: ``pip install -e ROOT`` builds in an isolated environment and installs the
    ``build-system`` requires into it from the package index, so the plan line says so. pip is
    the oracle: run the planned command against a local index that records what it is asked
    (and has nothing): it asks for setuptools, fails, and the copy stays installed."""
    import http.server
    import threading

    venv_py = make_venv(tmp_path / "venv")
    root = tmp_path / "proj"
    write_setuptools_project(root, "idxnote", "v1")
    run([venv_py, "-m", "pip", "install", "-q", root], cwd=tmp_path)  # a copy: not editable
    dry = json.loads(
        cli(
            "report", "--python", venv_py, "--fix", "--dry-run", "--format", "json",
            "--no-redact", cwd=root,
        ).stdout
    )  # fmt: skip
    (action,) = [a for a in dry["plan"] if a["finding"] == "project-installed-as-copy"]
    assert action["description"] == (
        f"install idxnote in editable mode from {root} "
        "(may download build dependencies and missing dependencies from the index)"
    )
    asked: list[str] = []

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_error(404)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = clean_env(
            PIP_INDEX_URL=f"http://127.0.0.1:{server.server_address[1]}/simple",
            PIP_RETRIES="0",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_CONFIG_FILE=os.devnull,  # no machine-wide find-links or extra index
        )
        env.pop("PIP_FIND_LINKS", None)
        pip_run = run(action["command"], env=env, cwd=tmp_path, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert pip_run.returncode != 0
    assert "/simple/setuptools/" in asked, (asked, pip_run.stdout + pip_run.stderr)
    data = report_json(venv_py, clean_env(), root)
    assert "project-installed-as-copy" in codes(data)  # the failed build changed nothing
