"""Differential test: ``which NAME`` against the interpreter it describes.

For each interpreter (pyenv 3.8-3.13, Debian's ``/usr/bin/python3``; absent ones are skipped) one
tree is generated holding every case below; for each name three answers are compared:

* ``build_which`` (the probe, run where the user stands, with the user's ``PYTHONPATH``);
* ``importlib.util.find_spec(NAME)`` run by the target in the same directory and environment
  (origin and loader class);
* ``python -v -c "import NAME"``: the ``import 'X' # <loader>`` line ``-v`` prints for the module
  that really loads, and that module's ``__spec__.origin`` after the import.

Cases: plain shadowing by a working-directory file, files that never win because the module is
in ``sys.modules`` at start-up (``encodings``, ``os``, ``stat``, ``os.path`` bound to
``posixpath``), nested PEP 420 namespace packages spread over two entries, a relative
``PYTHONPATH`` entry, frozen modules (``__hello__``; ``runpy`` frozen on 3.11+), modules in a zip
file (source, a stale-but-accepted pyc, a rejected pyc, a sourceless pyc, unchecked and
checked hash-based pycs, a package), and a
package that extends its ``__path__`` with ``pkgutil.extend_path``. Zip verdicts are checked
against the value the module really has (the old code's value means its pyc ran).

``PYENVDOCTOR_ORACLE_VERBOSE=1`` prints each interpreter's count of cases and disagreements.
"""

from __future__ import annotations

import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import clean_env, cli, make_venv, pyenv_python, report_json, run
from pyenvdoctor.collect.which import build_which
from pyenvdoctor.model import BytecodeCategory

INTERPRETERS = {
    **{minor: pyenv_python(minor) for minor in ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")},
    "debian": Path("/usr/bin/python3") if Path("/usr/bin/python3").exists() else None,
}

_FIND_SPEC = """\
import importlib.util, json, sys
s = importlib.util.find_spec(sys.argv[1])
loader = s.loader if isinstance(s.loader, type) else type(s.loader)
print(json.dumps([s.origin if s.origin != 'namespace' else None, loader.__name__]))
"""

_IMPORT = """\
import importlib, json, sys
m = importlib.import_module(sys.argv[1])
print(json.dumps([m.__spec__.name, m.__spec__.origin, getattr(m, 'A', None)]))
"""

_V_ZIP = re.compile(r"^import ([\w.]+) # loaded from Zip (.*)$")
_V_LINE = re.compile(r"^import '([\w.]+)' # <(?:class ')?(?:[\w.]+\.)?(\w+)")


def _compile(python: Path, source: Path, cfile: Path, mode: str = "TIMESTAMP") -> None:
    code = (
        "import py_compile; py_compile.compile("
        f"{str(source)!r}, cfile={str(cfile)!r}, doraise=True, "
        f"invalidation_mode=py_compile.PycInvalidationMode.{mode})"
    )
    run([python, "-c", code])


def _build(root: Path, python: Path) -> list[str]:
    """The tree for one interpreter; returns the names to ask about."""
    work = root / "work"
    work.mkdir()
    for name in ("random", "encodings", "os", "stat", "runpy"):
        (work / f"{name}.py").write_text("A = 'cwd'\n")
    # nested namespace: nsa.nsb over two entries, the leaf in the second
    (root / "ns1" / "nsa" / "nsb").mkdir(parents=True)
    (root / "ns2" / "nsa" / "nsb" / "leaf").mkdir(parents=True)
    (root / "ns2" / "nsa" / "nsb" / "leaf" / "__init__.py").write_text("A = 'leaf'\n")
    (root / "ns1" / "nsa" / "nsb" / "other.py").write_text("A = 'other'\n")
    # relative PYTHONPATH entry ../rel
    (root / "rel").mkdir()
    (root / "rel" / "relmod.py").write_text("A = 'rel'\n")
    # pkgutil.extend_path over ext1 and ext2
    for part in ("ext1", "ext2"):
        (root / part / "extpkg").mkdir(parents=True)
    (root / "ext1" / "extpkg" / "__init__.py").write_text(
        "__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    )
    (root / "ext2" / "extpkg" / "__init__.py").write_text("")
    (root / "ext2" / "extpkg" / "extra.py").write_text("A = 'extra'\n")
    # zip: a stale pyc accepted (same size, DOS time within 1 s), one rejected, one sourceless
    src = root / "src"
    src.mkdir()
    (src / "zold.py").write_text("A = 'old'\n")
    _compile(python, src / "zold.py", src / "zold.pyc")
    mtime = os.stat(src / "zold.py").st_mtime
    with zipfile.ZipFile(root / "archive.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("zacc.py", time.localtime(mtime)[:6]), "A = 'new'\n")
        z.write(src / "zold.pyc", "zacc.pyc")
        z.writestr(zipfile.ZipInfo("zrej.py", time.localtime(mtime - 600)[:6]), "A = 'new'\n")
        z.write(src / "zold.pyc", "zrej.pyc")
        z.write(src / "zold.pyc", "zsrcless.pyc")
        # PEP 552: an unchecked hash pyc is never compared with its source; a checked one is
        _compile(python, src / "zold.py", src / "unchecked.pyc", "UNCHECKED_HASH")
        _compile(python, src / "zold.py", src / "checked.pyc", "CHECKED_HASH")
        z.writestr("zhunchk.py", "A = 'new'\n")
        z.write(src / "unchecked.pyc", "zhunchk.pyc")
        z.writestr("zhchk.py", "A = 'new'\n")
        z.write(src / "checked.pyc", "zhchk.pyc")
        # the right magic, a short header: EOFError escapes zipimport, the import fails
        z.writestr("zshort.py", "A = 'new'\n")
        z.writestr("zshort.pyc", (src / "zold.pyc").read_bytes()[:10])
        z.writestr("zpkg/__init__.py", "")
        z.writestr("zpkg/mod.py", "A = 'zmod'\n")
    return [
        "random",
        "encodings",
        "os",
        "stat",
        "os.path",
        "nsa.nsb.leaf",
        "nsa.nsb.other",
        "relmod",
        "__hello__",
        "runpy",
        "zacc",
        "zrej",
        "zsrcless",
        "zhunchk",
        "zhchk",
        "zpkg",
        "zpkg.mod",
        "extpkg.extra",
    ]


def _tail(dotted: str | None) -> str | None:
    return dotted.rsplit(".", 1)[-1] if dotted else None


def _disagreements(python: Path, root: Path, name: str, env: dict[str, str]) -> list[str]:
    work = root / "work"
    report = build_which(name, python=str(python), environ=env, working_directory=str(work))
    spec = json.loads(run([python, "-c", _FIND_SPEC, name], cwd=work, env=env).stdout)
    proc = run([python, "-v", "-c", _IMPORT, name], cwd=work, env=env)
    spec_name, runtime_origin, value = json.loads(proc.stdout.strip().splitlines()[-1])
    v_loaders = {m.group(1): m.group(2) for m in map(_V_LINE.match, proc.stderr.splitlines()) if m}
    for m in map(_V_ZIP.match, proc.stderr.splitlines()):  # 3.8-3.9: zipimport.load_module
        if m:
            v_loaders[m.group(1)] = "zipimporter"
            if m.group(1) == spec_name and m.group(2) != runtime_origin:
                return [f"{name}: -v loaded {m.group(2)}, __spec__ says {runtime_origin}"]
    out = []
    if not report.found:
        return [f"{name}: which says not found ({report.notes})"]
    last = report.levels[-1]
    ours = (last.origin, _tail(last.loader))
    if ours != tuple(spec):
        out.append(f"{name}: which {ours} != find_spec {tuple(spec)}")
    if last.origin != runtime_origin:
        out.append(f"{name}: which {last.origin} != loaded {runtime_origin}")
    if v_loaders.get(spec_name) != _tail(last.loader):
        out.append(f"{name}: which {last.loader} != -v {v_loaders.get(spec_name)}")
    if name.startswith("z") and not name.startswith("zpkg"):
        ran_old = value == "old"
        if ran_old != (
            report.bytecode in (BytecodeCategory.STALE_ACCEPTED, BytecodeCategory.SOURCELESS)
        ):
            out.append(f"{name}: which says {report.bytecode}, the module has A={value!r}")
    return out


@pytest.mark.parametrize("label", sorted(INTERPRETERS))
def test_which_agrees_with_cpython(
    label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = INTERPRETERS[label]
    if python is None:
        pytest.skip(f"no {label} interpreter on this machine")
    names = _build(tmp_path, python)
    pythonpath = os.pathsep.join(
        [
            str(tmp_path / "ns1"),
            str(tmp_path / "ns2"),
            "../rel",
            str(tmp_path / "archive.zip"),
            str(tmp_path / "ext1"),
            str(tmp_path / "ext2"),
        ]
    )
    env = clean_env(PYTHONPATH=pythonpath)
    monkeypatch.setenv("PYTHONPATH", pythonpath)  # the probe inherits the host's environment
    found: list[str] = []
    for name in names:
        found += _disagreements(python, tmp_path, name, env)
    if os.environ.get("PYENVDOCTOR_ORACLE_VERBOSE"):
        print(f"{label}: {len(names)} cases, {len(found)} disagreements")
    assert found == []


def test_which_is_byte_identical_with_a_relative_pythonpath(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = INTERPRETERS.get("3.12") or INTERPRETERS.get("debian")
    if python is None:
        pytest.skip("no interpreter")
    _build(tmp_path, python)
    monkeypatch.setenv("PYTHONPATH", "../rel")
    env = clean_env(PYTHONPATH="../rel")
    from pyenvdoctor.model import to_dict

    answers: list[Any] = [
        to_dict(
            build_which(
                "relmod", python=str(python), environ=env, working_directory=str(tmp_path / "work")
            )
        )
        for _ in range(2)
    ]
    assert answers[0] == answers[1]
    assert answers[0]["levels"][0]["origin"] == str(tmp_path / "rel" / "relmod.py")


def test_finders_that_build_modules_at_run_time(tmp_path: Path) -> None:
    """setuptools' ``distutils-precedence.pth`` puts ``_distutils_hack.DistutilsMetaFinder`` on
    ``sys.meta_path`` at start-up: which names it and agrees with find_spec. six adds
    ``_SixMetaPathImporter`` when imported: which cannot resolve ``six.moves`` without running
    six, and names the finder that will."""
    python = INTERPRETERS.get("3.12") or INTERPRETERS.get("debian")
    if python is None:
        pytest.skip("no interpreter")
    venv = make_venv(tmp_path / "venv", python)
    # From /opt/wheels (PIP_FIND_LINKS) or the index; skipped when neither has them.
    got = run([venv, "-m", "pip", "install", "-q", "six", "setuptools"], check=False)
    if got.returncode != 0:
        pytest.skip("six and setuptools cannot be installed here")
    env = clean_env()
    report = build_which(
        "distutils", python=str(venv), environ=env, working_directory=str(tmp_path)
    )
    spec = json.loads(run([venv, "-c", _FIND_SPEC, "distutils"], cwd=tmp_path, env=env).stdout)
    assert report.levels[-1].finder == "_distutils_hack.DistutilsMetaFinder"
    assert (report.levels[-1].origin, _tail(report.levels[-1].loader)) == tuple(spec)
    # Submodules of the shim: its loader returns setuptools._distutils, whose __path__ the
    # import searches; the module that really loads is the oracle.
    for name in ("distutils.core", "distutils.command.build_py"):
        sub = build_which(name, python=str(venv), environ=env, working_directory=str(tmp_path))
        out = json.loads(run([venv, "-c", _IMPORT, name], cwd=tmp_path, env=env).stdout)
        assert sub.found and sub.levels[-1].origin == out[1]
        assert "setuptools/_distutils/" in out[1]
        assert sub.owner is not None and sub.owner.name == "setuptools"
    moves = build_which("six.moves", python=str(venv), environ=env, working_directory=str(tmp_path))
    assert not moves.found
    assert moves.unresolved is not None and "_SixMetaPathImporter" in moves.unresolved
    spec = json.loads(run([venv, "-c", _FIND_SPEC, "six.moves"], cwd=tmp_path, env=env).stdout)
    assert spec[1] == "_SixMetaPathImporter"
    shown = cli("which", "six.moves", "--python", venv, env=env, cwd=tmp_path, check=False)
    assert shown.returncode == 8
    assert shown.stdout.startswith("import six.moves: not resolved without running six:")


def test_a_path_appended_in_init_is_not_resolved_and_says_so(tmp_path: Path) -> None:
    """``__path__.append(...)`` in a package's ``__init__`` (not ``pkgutil.extend_path``,
    which is computed): a submodule found only through the added directory is "not resolved
    without running" the package, not "not found"; the interpreter does import it."""
    python = INTERPRETERS.get("3.12") or INTERPRETERS.get("debian")
    if python is None:
        pytest.skip("no interpreter")
    work = tmp_path / "work"
    (work / "p2").mkdir(parents=True)
    (work / "extra").mkdir()
    (work / "p2" / "__init__.py").write_text(
        "import os\n__path__.append(os.path.join(os.path.dirname(os.path.dirname(__file__)),"
        " 'extra'))\n"
    )
    (work / "extra" / "emod.py").write_text("A = 'extra'\n")
    env = clean_env()
    out = json.loads(run([python, "-c", _IMPORT, "p2.emod"], cwd=work, env=env).stdout)
    assert out[1:] == [str(work / "extra" / "emod.py"), "extra"]
    report = build_which("p2.emod", python=str(python), environ=env, working_directory=str(work))
    assert not report.found
    assert report.unresolved == (
        "not resolved without running p2: it changes its __path__ when imported, and p2.emod"
        " is not in the __path__ it starts with"
    )


@pytest.mark.parametrize("label", sorted(INTERPRETERS))
def test_zip_pycs_in_the_report_agree_with_zipimport(label: str, tmp_path: Path) -> None:
    """The report judges the pycs of a zip on ``sys.path`` (given as a relative PYTHONPATH
    entry) by zipimport's rules; the value each module really has says which code ran."""
    python = INTERPRETERS[label]
    if python is None:
        pytest.skip(f"no {label} interpreter on this machine")
    _build(tmp_path, python)
    work = tmp_path / "work"
    env = clean_env(PYTHONPATH="../archive.zip")
    data = report_json(python, env, work)
    archive = str(tmp_path / "archive.zip")
    got = {
        p: g["category"]
        for g in data["bytecode"]["groups"]
        if archive in g["roots"]
        for p in g["paths"]
    }
    expected = {
        "zacc": "stale-accepted",
        "zrej": "stale-not-rewritten",
        "zsrcless": "sourceless",
        "zhunchk": "stale-accepted",
        "zhchk": "stale-not-rewritten",
        "zshort": "broken",
    }
    assert got == {f"{archive}/{m}.pyc": c for m, c in expected.items()}
    for module, category in expected.items():
        value = run(
            [python, "-c", f"import {module}; print({module}.A)"], cwd=work, env=env, check=False
        )
        if category == "broken":
            assert value.returncode != 0, value.stdout
        else:
            assert (value.stdout.strip() == "old") == (category != "stale-not-rewritten")
    codes = {f["code"]: f["commands"] for f in data["findings"]}
    assert codes["bytecode-stale-accepted"] == []  # no rm of a zip member


_RUNTIME_FINDER = """\
import importlib.abc, importlib.machinery, sys


class RuntimeFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name in ("rtmod", "rtpkg.sub"):
            return importlib.machinery.ModuleSpec(name, self, origin="runtime")
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.A = "runtime"


sys.meta_path.insert(0, RuntimeFinder())
"""


@pytest.mark.parametrize("label", sorted(INTERPRETERS))
def test_a_meta_path_finder_ahead_of_the_path_finder_wins(
    label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finder that ``sitecustomize`` puts first on ``sys.meta_path`` builds ``rtmod`` and
    ``rtpkg.sub`` at run time although files of those names are in the working directory:
    ``which`` names that finder with the origin and loader ``find_spec`` gives, and the
    import really runs its module (``A == "runtime"``)."""
    python = INTERPRETERS[label]
    if python is None:
        pytest.skip(f"no {label} interpreter on this machine")
    (tmp_path / "sc").mkdir()
    (tmp_path / "sc" / "sitecustomize.py").write_text(_RUNTIME_FINDER)
    work = tmp_path / "work"
    (work / "rtpkg").mkdir(parents=True)
    (work / "rtmod.py").write_text("A = 'file'\n")
    (work / "rtpkg" / "__init__.py").write_text("")
    (work / "rtpkg" / "sub.py").write_text("A = 'file'\n")
    env = clean_env(PYTHONPATH=str(tmp_path / "sc"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "sc"))
    for name in ("rtmod", "rtpkg.sub"):
        report = build_which(name, python=str(python), environ=env, working_directory=str(work))
        spec = json.loads(run([python, "-c", _FIND_SPEC, name], cwd=work, env=env).stdout)
        last = report.levels[-1]
        assert last.finder == "sitecustomize.RuntimeFinder"
        assert (last.origin, _tail(last.loader)) == tuple(spec) == ("runtime", "RuntimeFinder")
        out = json.loads(run([python, "-c", _IMPORT, name], cwd=work, env=env).stdout)
        assert out[2] == "runtime"


@pytest.mark.parametrize(
    "change",
    ["__path__.insert(0, EXTRA)", "__path__ = [EXTRA] + __path__", "__path__[:0] = [EXTRA]"],
)
def test_a_path_put_ahead_in_init_is_not_resolved(change: str, tmp_path: Path) -> None:
    """A package's ``__init__`` puts a directory ahead of its own ``__path__``: the
    interpreter loads ``plug.own`` from there, not the ``plug/own.py`` found without running
    ``__init__``, so ``which`` says "not resolved" rather than naming the wrong file. Only
    appending (``__path__.append``) leaves the first answer right (checked as well)."""
    python = INTERPRETERS.get("3.12") or INTERPRETERS.get("debian")
    if python is None:
        pytest.skip("no interpreter")
    work = tmp_path / "work"
    for d in ("plug", "plug2", "extra"):
        (work / d).mkdir(parents=True)
    extra = "__import__('os').path.join(__import__('os').path.dirname(__file__), '..', 'extra')"
    (work / "plug" / "__init__.py").write_text(change.replace("EXTRA", extra) + "\n")
    (work / "plug2" / "__init__.py").write_text(f"__path__.append({extra})\n")
    for d in ("plug", "plug2", "extra"):
        (work / d / "own.py").write_text(f"A = {d!r}\n")
    env = clean_env()
    out = json.loads(run([python, "-c", _IMPORT, "plug.own"], cwd=work, env=env).stdout)
    assert out[2] == "extra"
    report = build_which("plug.own", python=str(python), environ=env, working_directory=str(work))
    assert not report.found
    assert report.unresolved is not None and "ahead" in report.unresolved
    out = json.loads(run([python, "-c", _IMPORT, "plug2.own"], cwd=work, env=env).stdout)
    report = build_which("plug2.own", python=str(python), environ=env, working_directory=str(work))
    assert out[2] == "plug2"
    assert report.found and report.levels[-1].origin == out[1]
