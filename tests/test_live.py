"""``pyenvdoctor.stale_modules``/``purge_modules`` and the IPython extension, each scenario in
a fresh interpreter running a script, with real files edited between imports.

This machine sets ``PYTHONDONTWRITEBYTECODE=1``: scenarios run with bytecode writing on (the
variable removed) and off (set), and check the behaviour the README documents for each.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, run

#: Imported first by every script. ``edit`` waits 50 ms first: an edit within one file-system
#: clock tick of the import cannot be told from one made before it (a documented limit).
PRELUDE = """\
import dataclasses, json, os, sys, time
def edit(path, text):
    time.sleep(0.05)
    with open(path, "w") as f:
        f.write(text)
def emit(key, value):
    print(json.dumps({key: value}, default=dataclasses.asdict))
"""

BYTECODE = {"on": None, "off": "1"}


def env_for(bytecode: str) -> dict[str, str]:
    """The test environment with ``PYTHONDONTWRITEBYTECODE`` set (``off``) or removed (``on``)."""
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if bytecode == "off":
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (a project: with a ``pyproject.toml``)."""
    for rel, text in {"pyproject.toml": "[project]\nname = 'proj'\n", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def run_script(project: Path, body: str, bytecode: str = "off") -> dict[str, Any]:
    """Run ``PRELUDE + body`` in a fresh ``sys.executable`` with ``project`` as the working
    directory (and so ``sys.path[0]``); returns the ``emit``-ted values by key."""
    script = project.parent / "script.py"
    script.write_text(PRELUDE + f"sys.path.insert(0, {str(project)!r})\n" + body)
    proc = run([sys.executable, script], env=env_for(bytecode), cwd=project)
    out: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        out.update(json.loads(line))
    return out


def names(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stale modules of an emitted ``StaleReport``, by name."""
    return {m["name"]: m for m in report["stale"]}


@pytest.mark.parametrize("bytecode", ["on", "off"])
@pytest.mark.parametrize("watch", ["before-import", "after-edit"])
def test_edited_module(tmp_path: Path, bytecode: str, watch: str) -> None:
    """An edit that changes the size. ``before-import``: pyenvdoctor.live was imported before
    the module, so the import time is noted; ``after-edit``: it was imported only after the
    edit, so the evidence is the pyc header, absent without bytecode (the documented limit,
    which ``since=`` lifts)."""
    proj = write_tree(tmp_path / "proj", {"mod.py": "VALUE = 1\n"})
    first = "import pyenvdoctor.live\nimport mod\n"
    if watch == "after-edit":
        first = "start = time.time()\nimport mod\n"
    out = run_script(
        proj,
        first
        + """\
edit("mod.py", "VALUE = 222\\n")
import pyenvdoctor
emit("report", pyenvdoctor.stale_modules())
emit("since", pyenvdoctor.stale_modules(since=start) if "start" in globals() else None)
emit("purge", pyenvdoctor.purge_modules())
import mod
emit("value", mod.VALUE)
""",
        bytecode,
    )
    stale = names(out["report"])
    if watch == "after-edit" and bytecode == "off":
        assert stale == {}
        assert "mod" in out["report"]["unchecked"]
        assert names(out["since"])["mod"]["reason"] == "changed"
    else:
        m = stale["mod"]
        assert (m["reason"], m["file"]) == ("changed", str(proj / "mod.py"))
        assert m["changed_at"] == pytest.approx((proj / "mod.py").stat().st_mtime)
        assert m["imported_by"] == ["__main__"]
        evidence = "after the import" if watch == "before-import" else "its pyc records"
        assert evidence in m["how"]
        assert "mod" not in out["report"]["unchecked"]
    assert out["purge"]["removed"] == ["mod"]
    assert out["purge"]["roots"] == [str(proj.resolve())]
    assert out["value"] == 222


@pytest.mark.parametrize("bytecode", ["on", "off"])
def test_package_with_submodules(tmp_path: Path, bytecode: str) -> None:
    """Editing ``pkg/sub/leaf.py`` makes only the leaf stale; purging the project (the default
    root, found from the working directory) removes the package and its submodules and nothing
    of the stdlib; the interpreter keeps working."""
    proj = write_tree(
        tmp_path / "proj",
        {
            "pkg/__init__.py": "from pkg import sub\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/leaf.py": "VALUE = 'old'\n",
            "user.py": "from pkg.sub import leaf\n",
        },
    )
    out = run_script(
        proj,
        """\
import pyenvdoctor.live
import pkg.sub.leaf, user
edit("pkg/sub/leaf.py", "VALUE = 'new one'\\n")
import pyenvdoctor
emit("report", pyenvdoctor.stale_modules())
emit("pkg_only", pyenvdoctor.stale_modules(["pkg"]))
emit("other_only", pyenvdoctor.stale_modules(["json"]))
before = set(sys.modules)
emit("purge", pyenvdoctor.purge_modules())
emit("lost", sorted(before - set(sys.modules)))
emit("stdlib_kept", all(m in sys.modules for m in ("json", "os", "importlib", "sys")))
import fractions
emit("works", json.dumps({"a": str(fractions.Fraction(1, 3))}))
import pkg.sub.leaf
emit("value", pkg.sub.leaf.VALUE)
""",
        bytecode,
    )
    stale = names(out["report"])
    assert list(stale) == ["pkg.sub.leaf"]
    assert stale["pkg.sub.leaf"]["imported_by"] == ["pkg.sub", "user"]
    assert list(names(out["pkg_only"])) == ["pkg.sub.leaf"]
    assert out["other_only"]["stale"] == []
    assert out["purge"]["removed"] == ["pkg", "pkg.sub", "pkg.sub.leaf", "user"]
    assert out["lost"] == out["purge"]["removed"]
    assert out["stdlib_kept"] is True
    assert out["works"] == '{"a": "1/3"}'
    assert out["value"] == "new one"


def test_live_object_keeps_old_class(tmp_path: Path) -> None:
    """Purging cannot update objects made from the old code: an instance keeps its old class
    (and its old methods); only new objects use the new code."""
    proj = write_tree(
        tmp_path / "proj", {"shapes.py": "class Shape:\n    def sides(self):\n        return 3\n"}
    )
    out = run_script(
        proj,
        """\
import pyenvdoctor
import shapes
obj = shapes.Shape()
edit("shapes.py", "class Shape:\\n    def sides(self):\\n        return 4  # square\\n")
emit("purge", pyenvdoctor.purge_modules())
import shapes as new
emit("same_class", type(obj) is new.Shape)
emit("old_object", obj.sides())
emit("new_object", new.Shape().sides())
""",
    )
    assert out["purge"]["removed"] == ["shapes"]
    assert out["same_class"] is False
    assert (out["old_object"], out["new_object"]) == (3, 4)


def test_reload_and_reimport_start_afresh(tmp_path: Path) -> None:
    """``importlib.reload`` runs the new code in the same module object, and a purge plus import
    makes a new one: neither is stale afterwards, and a later edit is seen again."""
    proj = write_tree(tmp_path / "proj", {"mod.py": "VALUE = 1\n"})
    out = run_script(
        proj,
        """\
import importlib, pyenvdoctor.live
import mod
edit("mod.py", "VALUE = 22\\n")
emit("before", pyenvdoctor.live.stale_modules())
importlib.reload(mod)
emit("reloaded", pyenvdoctor.live.stale_modules())
edit("mod.py", "VALUE = 333\\n")
emit("edited", pyenvdoctor.live.stale_modules())
pyenvdoctor.live.purge_modules(".")
import mod
emit("reimported", pyenvdoctor.live.stale_modules())
emit("value", mod.VALUE)
""",
    )
    assert [list(names(out[k])) for k in ("before", "reloaded", "edited", "reimported")] == [
        ["mod"],
        [],
        ["mod"],
        [],
    ]
    assert out["value"] == 333


@pytest.mark.parametrize("bytecode", ["on", "off"])
def test_deleted_source(tmp_path: Path, bytecode: str) -> None:
    """A source removed after the import: ``deleted``, no change time. After a purge the
    import fails, even beside the module's own ``__pycache__`` pyc (PEP 3147)."""
    proj = write_tree(tmp_path / "proj", {"gone.py": "VALUE = 1\n"})
    out = run_script(
        proj,
        """\
import pyenvdoctor, gone
os.remove("gone.py")
emit("report", pyenvdoctor.stale_modules())
pyenvdoctor.purge_modules()
try:
    import gone
    emit("import", "ok")
except ImportError:
    emit("import", "ImportError")
""",
        bytecode,
    )
    m = names(out["report"])["gone"]
    assert (m["reason"], m["changed_at"], m["how"]) == ("deleted", None, "the file is gone")
    assert out["import"] == "ImportError"
    assert (proj / "__pycache__").is_dir() == (bytecode == "on")


SAME_SIZE = """\
import pyenvdoctor.live
import mod
emit("early", pyenvdoctor.stale_modules(["mod"]))
st = os.stat("mod.py")
edit("mod.py", "VALUE = 2\\n")
os.utime("mod.py", ns=(st.st_atime_ns, st.st_mtime_ns))
import pyenvdoctor
emit("report", pyenvdoctor.stale_modules())
pyenvdoctor.purge_modules()
import mod
emit("value", mod.VALUE)
"""


@pytest.mark.parametrize(
    ("bytecode", "pyc", "detected", "value"),
    [
        ("on", "timestamp", False, 1),  # Python itself runs the old pyc: stale-accepted
        ("off", "none", False, 2),
        ("on", "checked-hash", True, 2),
        ("off", "checked-hash", True, 2),
    ],
)
def test_same_size_edit_with_mtime_restored(
    tmp_path: Path, bytecode: str, pyc: str, detected: bool, value: int
) -> None:
    """A same-size edit whose mtime is put back (``touch -r``, ``rsync -t``): mtime and size
    say nothing changed. Only a hash-based pyc shows it (with writing off: one that matched the
    source when pyenvdoctor first saw the module, hence the early call). With a timestamp pyc
    even the re-import after a purge runs the old bytecode."""
    proj = write_tree(tmp_path / "proj", {"mod.py": "VALUE = 1\n"})
    if pyc == "checked-hash":
        compile_hash_pyc(proj / "mod.py")
    out = run_script(proj, SAME_SIZE, bytecode)
    assert out["early"]["stale"] == []
    stale = names(out["report"])
    assert ("mod" in stale) is detected
    if detected:
        assert "hash" in stale["mod"]["how"]
    assert out["value"] == value


def compile_hash_pyc(source: Path) -> None:
    """Write the PEP 552 checked hash-based pyc of ``source`` in its ``__pycache__``."""
    code = (
        "import py_compile, sys, importlib.util;"
        "py_compile.compile(sys.argv[1], importlib.util.cache_from_source(sys.argv[1]),"
        " doraise=True, invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)"
    )
    run([sys.executable, "-c", code, source])


C_EXTENSION = """\
#include <Python.h>
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, NULL};
PyMODINIT_FUNC PyInit_cext(void) {
    PyObject *m = PyModule_Create(&def);
    if (m != NULL && PyModule_AddIntConstant(m, "VALUE", VALUE) < 0) { Py_DECREF(m); return NULL; }
    return m;
}
"""


def gcc_command(directory: Path, value: int, out: Path) -> list[str]:
    """gcc building ``directory/cext.c`` with ``VALUE`` into ``out`` (or skip the test)."""
    include = Path(sysconfig.get_paths()["include"])
    gcc = shutil.which("gcc")
    if gcc is None or not (include / "Python.h").is_file():
        pytest.skip("gcc or Python.h missing")
    (directory / "cext.c").write_text(C_EXTENSION)
    source = str(directory / "cext.c")
    return [gcc, "-shared", "-fPIC", f"-DVALUE={value}", f"-I{include}", "-o", str(out), source]


def test_extension_module_is_kept(tmp_path: Path) -> None:
    """A loaded extension module cannot be unloaded: the purge keeps it and says so; a rebuild
    is reported as a change; importing again gives the same (old) module."""
    proj = write_tree(tmp_path / "proj", {"plain.py": "import cext\n"})
    built = proj / ("cext" + sysconfig.get_config_var("EXT_SUFFIX"))
    run([*gcc_command(proj, 1, built)])
    rebuild = gcc_command(proj, 2, tmp_path / built.name)
    out = run_script(
        proj,
        f"""\
import pyenvdoctor.live
import cext, plain
time.sleep(0.05)
import subprocess
subprocess.run({rebuild!r}, check=True)
os.replace({str(tmp_path / built.name)!r}, {str(built)!r})
emit("report", pyenvdoctor.live.stale_modules())
old = sys.modules["cext"]
emit("purge", pyenvdoctor.live.purge_modules({str(proj)!r}))
emit("still_loaded", sys.modules.get("cext") is old)
import cext
emit("value", cext.VALUE)
""",
    )
    m = names(out["report"])["cext"]
    assert (m["reason"], m["file"], m["imported_by"]) == (
        "changed",
        str(built),
        ["__main__", "plain"],
    )
    assert out["purge"]["removed"] == ["plain"]
    assert out["purge"]["extensions_kept"] == ["cext"]
    assert out["still_loaded"] is True
    assert out["value"] == 1


def test_import_pyenvdoctor_stays_cheap() -> None:
    """``import pyenvdoctor`` imports neither rich, nor the scan code, nor the watch."""
    code = (
        "import pyenvdoctor, sys;"
        "loaded = [m for m in sys.modules if m.startswith(('rich', 'pyenvdoctor.'))];"
        "assert not loaded, loaded;"
        "assert callable(pyenvdoctor.stale_modules) and callable(pyenvdoctor.purge_modules)"
    )
    run([sys.executable, "-c", code])


IPYTHON_SCRIPT = """\
sys.path.insert(0, os.getcwd())
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
def cell(source):
    sys.stdout.flush(); sys.stderr.flush()
    print(f"### {source}", flush=True)
    print(f"### {source}", file=sys.stderr, flush=True)
    shell.run_cell(source)
cell("%load_ext pyenvdoctor")
cell("import mod\\nfrom other import helper")
edit("mod.py", "VALUE = 'edited'\\n")
edit("other.py", "def helper():\\n    return 'edited'\\n")
cell("x = 1")
cell("print(mod.VALUE)")
cell("helper()")
cell("%pyenvdoctor --stale")
cell("%pyenvdoctor")
"""


def cells(text: str) -> dict[str, str]:
    """Output split by the ``### <cell source>`` markers the script prints."""
    parts: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if line.startswith("### "):
            key = line[4:]
            parts[key] = ""
        else:
            parts[key] = parts.get(key, "") + line + "\n"
    return parts


@pytest.mark.skipif(importlib.util.find_spec("IPython") is None, reason="IPython not installed")
def test_ipython_extension(tmp_path: Path) -> None:
    """``%load_ext pyenvdoctor``: a cell using a module edited since its import (directly, or
    through a function imported from it) is warned about before it runs; a cell using neither
    is not; ``%pyenvdoctor`` prints the stale modules and the environment's findings."""
    proj = write_tree(
        tmp_path / "proj",
        {"mod.py": "VALUE = 'first'\n", "other.py": "def helper():\n    return 1\n"},
    )
    script = tmp_path / "ipy.py"
    script.write_text(PRELUDE + IPYTHON_SCRIPT)
    env = env_for("off")
    env["IPYTHONDIR"] = str(tmp_path / "ipythondir")
    proc = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=proj,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out, err = cells(proc.stdout), cells(proc.stderr)
    assert "pyenvdoctor" not in err["x = 1"]
    assert err["print(mod.VALUE)"].startswith(
        f"pyenvdoctor: mod ({proj / 'mod.py'}) changed on disk"
    )
    assert "other" not in err["print(mod.VALUE)"]
    assert out["print(mod.VALUE)"] == "first\n"
    assert err["helper()"].startswith("pyenvdoctor: other (")
    stale_view = out["%pyenvdoctor --stale"]
    assert "mod  changed" in stale_view and "other  changed" in stale_view
    assert "findings for" not in stale_view
    full = out["%pyenvdoctor"]
    assert "mod  changed" in full and f"findings for {sys.executable}" in full


@pytest.mark.parametrize("bytecode", ["on", "off"])
def test_function_edit_before_pyenvdoctor_is_seen_by_its_code(
    tmp_path: Path, bytecode: str
) -> None:
    """Issue 17: with bytecode writing off (no pyc) and the module imported before pyenvdoctor,
    an edit of a function is still seen: the loaded code differs from a compile of the current
    source. An unedited module with functions is not reported."""
    proj = write_tree(
        tmp_path / "proj",
        {
            "mod.py": "def f():\n    return 1\n\n\nclass K:\n    def m(self):\n        return 1\n",
            "same.py": "def g():\n    return 1\n",
        },
    )
    out = run_script(
        proj,
        """\
import mod, same
edit("mod.py", "def f():\\n    return 1\\n\\n\\nclass K:\\n    def m(self):\\n        return 2\\n")
import pyenvdoctor
emit("report", pyenvdoctor.stale_modules())
emit("value", mod.K().m())
""",
        bytecode,
    )
    stale = names(out["report"])
    assert set(stale) == {"mod"}
    how = stale["mod"]["how"]
    code_seen = "K.m()" in how and "differs" in how
    if bytecode == "off":
        assert code_seen, how
    else:  # the pyc's whole-second mtime tells when the edit crossed a second; else the code
        assert code_seen or how.startswith("its pyc records the source as mtime"), how
    assert out["value"] == 1  # the old code is what runs


MAGIC_SCRIPT = """\
sys.path.insert(0, os.getcwd())
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
def cell(source):
    sys.stdout.flush(); sys.stderr.flush()
    print(f"### {source}", flush=True)
    print(f"### {source}", file=sys.stderr, flush=True)
    result = shell.run_cell(source)
    print(f"ok={result.success}", flush=True)
cell("%load_ext pyenvdoctor")
cell("import mod")
edit("mod.py", "VALUE = 'edited'\\n")
cell("%pyenvdoctor --help")
cell("%pyenvdoctor --nope")
cell("pyenvdoctor.purge_modules().removed")
cell("import mod; print(mod.VALUE)")
"""


@pytest.mark.skipif(importlib.util.find_spec("IPython") is None, reason="IPython not installed")
def test_magic_help_usage_error_and_bound_name(tmp_path: Path) -> None:
    """Issue 17: ``%pyenvdoctor --help`` prints help and runs no report; a wrong option is a
    usage error (the cell fails, no report); ``pyenvdoctor`` is bound by ``%load_ext``, so the
    warning's advice ``pyenvdoctor.purge_modules()`` works and the new value is imported."""
    proj = write_tree(tmp_path / "proj", {"mod.py": "VALUE = 'first'\n"})
    script = tmp_path / "ipy.py"
    script.write_text(PRELUDE + MAGIC_SCRIPT)
    env = env_for("off")
    env["IPYTHONDIR"] = str(tmp_path / "ipythondir")
    proc = run([sys.executable, script], env=env, cwd=proj)
    out, err = cells(proc.stdout), cells(proc.stderr)
    assert "usage: %pyenvdoctor" in out["%pyenvdoctor --help"]
    assert "--stale" in out["%pyenvdoctor --help"]
    assert "findings for" not in out["%pyenvdoctor --help"]
    assert "mod  changed" not in out["%pyenvdoctor --help"]
    assert out["%pyenvdoctor --nope"].strip().endswith("ok=False")
    assert (
        "unrecognized arguments: --nope" in out["%pyenvdoctor --nope"] + err["%pyenvdoctor --nope"]
    )
    assert "findings for" not in out["%pyenvdoctor --nope"]
    assert "NameError" not in out["pyenvdoctor.purge_modules().removed"]
    assert "'mod'" in out["pyenvdoctor.purge_modules().removed"]
    assert out["import mod; print(mod.VALUE)"].startswith("edited\n")
