"""Issue 13's import rules, each shown against the target interpreter itself.

Every test builds a tree with the target's own ``py_compile``, asks the scan for the file's
category, then imports the module in the target with ``-v`` and checks what CPython did: which
pyc it read (``# code object from '<pyc>'``), whether the old code ran, whether the import
failed and whether the pyc was rewritten. The rule each test shows is named in its docstring
(``Lib/importlib/_bootstrap_external.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from conftest import DEBIAN_PYTHON, clean_env, report_json, require_python, run
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, judge_file, scan_bytecode
from pyenvdoctor.collect.interpreter import run_probe
from pyenvdoctor.model import BytecodeCategory as C
from pyenvdoctor.model import LocationClass

MINORS = ["3.8", "3.13"]

_IMPORT = """\
import json, sys
try:
    m = __import__(sys.argv[1])
    out = {"value": getattr(m, "V", None), "file": getattr(m, "__file__", None)}
except BaseException as exc:
    out = {"error": type(exc).__name__}
print("RESULT " + json.dumps(out))
"""


@dataclass(frozen=True)
class Outcome:
    """What the target did on ``import NAME``: the value of ``NAME.V`` (or the exception's
    name), and the pycs it loaded code from (``-v``)."""

    value: str | None
    error: str | None
    read: frozenset[str]


def target_for(python: Path, **changes: object) -> BytecodeTarget:
    data = run_probe(str(python)).data
    it = data["interpreter"]
    target = BytecodeTarget(
        executable=str(python),
        version_info=(it["version_info"][0], it["version_info"][1]),
        cache_tag=it["implementation"]["cache_tag"],
        magic_number=bytes.fromhex(it["magic_number"]),
        check_hash_based_pycs=data["flags"]["check_hash_based_pycs"],
        extension_suffixes=tuple(data["imports"]["suffixes"]["extension"]),
    )
    return replace(target, **changes)  # type: ignore[arg-type]


def tag_of(python: Path) -> str:
    return run([python, "-c", "import sys; print(sys.implementation.cache_tag)"]).stdout.strip()


def compile_in(python: Path, src: Path, *, cfile: Path | None = None, optimize: int = -1) -> Path:
    code = (
        "import py_compile, sys; print(py_compile.compile(sys.argv[1], cfile=sys.argv[2] or None,"
        f" doraise=True, optimize={optimize}))"
    )
    out = run([python, "-c", code, src, str(cfile or "")]).stdout.strip()
    return Path(out)


def import_in(python: Path, cwd: Path, name: str, *flags: str, write: bool = True) -> Outcome:
    """``import name`` in the target, run in ``cwd`` (``sys.path[0]``), with ``-v``."""
    env = clean_env(PYTHONDONTWRITEBYTECODE="1")
    if write:
        del env["PYTHONDONTWRITEBYTECODE"]
    proc = subprocess.run(
        [str(python), *flags, "-v", "-c", _IMPORT, name],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    data = json.loads(line[len("RESULT ") :])
    read = frozenset(
        x[len("# code object from ") :].strip("'")
        for x in proc.stderr.splitlines()
        if x.startswith("# code object from ")
    )
    return Outcome(value=data.get("value"), error=data.get("error"), read=read)


def category(target: BytecodeTarget, root: Path, pyc: Path) -> C | None:
    summary = scan_bytecode([ScanRoot(path=str(root), location=LocationClass.PROJECT)], target)
    for g in summary.groups:
        if str(pyc) in g.paths:
            return g.category
    if any(g.category is C.FRESH for g in summary.groups):
        return C.FRESH
    return None


def module(d: Path, name: str, value: str) -> Path:
    path = d / f"{name}.py"
    path.write_text(f'V = "{value}"\n')
    return path


def edit_keeping_mtime(path: Path, text: str) -> None:
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture(params=MINORS)
def python(request: pytest.FixtureRequest) -> Path:
    return require_python(request.param)


def test_package_directory_shadows_module_and_its_pyc(python: Path, tmp_path: Path) -> None:
    """Rule 1: ``FileFinder.find_spec`` tries ``m/__init__`` before ``m.py``: the pyc of ``m.py``
    is never read, even when its header would be accepted with old code."""
    src = module(tmp_path, "m", "old")
    pyc = compile_in(python, src)
    edit_keeping_mtime(src, 'V = "new"\n')
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "__init__.py").write_text('V = "pkg"\n')
    assert category(target_for(python), tmp_path, pyc) is C.SHADOWED
    got = import_in(python, tmp_path, "m")
    assert got.value == "pkg" and str(pyc) not in got.read


def test_source_shadows_legacy_pyc(python: Path, tmp_path: Path) -> None:
    """Rule 1: source before sourceless: a legacy ``m.pyc`` beside ``m.py`` is never read."""
    src = module(tmp_path, "m", "old")
    legacy = tmp_path / "m.pyc"
    compile_in(python, src, cfile=legacy)
    src.write_text('V = "new, longer"\n')
    assert category(target_for(python), tmp_path, legacy) is C.SHADOWED
    got = import_in(python, tmp_path, "m", write=False)
    assert got.value == "new, longer" and str(legacy) not in got.read


def test_extension_shadows_source_and_its_pyc(python: Path, tmp_path: Path) -> None:
    """Rule 1: extension suffixes come first in ``_get_supported_file_loaders``."""
    ext = run(
        [python, "-c", "import _json, sys; print(getattr(_json, '__file__', ''))"]
    ).stdout.strip()
    if not ext:
        pytest.skip("_json is built in")
    copied = tmp_path / Path(ext).name
    shutil.copy(ext, copied)
    src = module(tmp_path, "_json", "py")
    pyc = compile_in(python, src)
    target = target_for(python)
    assert category(target, tmp_path, pyc) is C.SHADOWED
    assert category(target, tmp_path, copied) is C.EXTENSION_BESIDE_SOURCE
    got = import_in(python, tmp_path, "_json")
    assert got.value is None and str(pyc) not in got.read
    # The finding names the extension and the source it hides.
    data = report_json(python, clean_env(), tmp_path)
    (finding,) = (f for f in data["findings"] if f["code"] == "extension-shadows-source")
    assert f"{copied} (imported instead of {src})" in finding["evidence"]


@pytest.mark.parametrize("after", ["chmod", "copy"])
def test_same_size_edit_is_found_when_the_pyc_ctime_moves(
    python: Path, tmp_path: Path, after: str
) -> None:
    """Rule 2: ``_validate_timestamp_pyc`` compares mtime and size only; a chmod of the pyc or a
    copy that keeps mtimes (``cp -a``) must not hide the edit."""
    work = tmp_path / "w"
    work.mkdir()
    src = module(work, "m", "old")
    pyc = compile_in(python, src)
    edit_keeping_mtime(src, 'V = "new"\n')
    if after == "chmod":
        pyc.chmod(0o600)
    else:
        copy = tmp_path / "copy"
        shutil.copytree(work, copy, copy_function=shutil.copy2)
        work, pyc = copy, copy / "__pycache__" / pyc.name
    assert category(target_for(python), work, pyc) is C.STALE_ACCEPTED
    got = import_in(python, work, "m")
    assert got.value == "old" and str(pyc) in got.read


def test_same_size_edit_with_a_syntax_error_still_runs_the_old_code(
    python: Path, tmp_path: Path
) -> None:
    """Rule 3: while the header matches, the source is never compiled."""
    src = module(tmp_path, "m", "old")
    pyc = compile_in(python, src)
    edit_keeping_mtime(src, 'V = "new\n\n')
    assert category(target_for(python), tmp_path, pyc) is C.STALE_ACCEPTED
    assert import_in(python, tmp_path, "m").value == "old"


def test_truncated_body_with_a_valid_header_makes_the_import_fail(
    python: Path, tmp_path: Path
) -> None:
    """Rule 4: ``_compile_bytecode`` is outside the ``try`` of ``get_code``: a truncated marshal
    body under an accepted header is an import error (``broken``), at any age of the pyc."""
    src = module(tmp_path, "m", "old")
    pyc = compile_in(python, src)
    data = pyc.read_bytes()
    st = pyc.stat()
    pyc.write_bytes(data[: len(data) // 2])
    os.utime(pyc, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.utime(src, ns=(st.st_atime_ns, src.stat().st_mtime_ns))  # source older than the pyc
    assert category(target_for(python), tmp_path, pyc) is C.BROKEN
    got = import_in(python, tmp_path, "m", write=False)
    assert got.error in {"EOFError", "ValueError"}


@pytest.mark.parametrize("statements", [300, 3000])
def test_a_body_cut_at_any_length_is_broken(python: Path, tmp_path: Path, statements: int) -> None:
    """Rule 4 for pycs of every size: 300 module-level statements make a pyc longer than the
    scan's 4 KiB tail read, 3000 one whose module code's last fields are longer too (read
    whole). Each cut, from the bare header to one byte short, is ``broken`` and the import
    fails; the whole file is fresh."""
    src = tmp_path / "m.py"
    src.write_text('V = "new"\n' + "".join(f"Y{i} = {i}\n" for i in range(statements)))
    pyc = compile_in(python, src)
    data = pyc.read_bytes()
    st = pyc.stat()
    target = target_for(python)
    assert category(target, tmp_path, pyc) is C.FRESH
    for cut in sorted(
        {16, 17, 100, len(data) // 2, len(data) - 4100, len(data) - 5, len(data) - 1}
    ):
        pyc.write_bytes(data[:cut])
        os.utime(pyc, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert category(target, tmp_path, pyc) is C.BROKEN, cut
        got = import_in(python, tmp_path, "m", write=False)
        assert got.error in {"EOFError", "ValueError"}, (cut, got)


def test_bad_magic_at_the_own_cache_path_is_read_and_recompiled(
    python: Path, tmp_path: Path
) -> None:
    """Rule 4: a wrong magic number at the target's own cache path is rejected
    (``_classify_pyc`` raises ``ImportError``, caught) and the pyc is rewritten."""
    src = module(tmp_path, "m", "new")
    pyc = compile_in(python, src)
    data = pyc.read_bytes()
    pyc.write_bytes(b"\x00\x00\r\n" + data[4:])
    assert category(target_for(python), tmp_path, pyc) is C.STALE
    assert category(target_for(python, dont_write_bytecode=True), tmp_path, pyc) is (
        C.STALE_NOT_REWRITTEN
    )
    got = import_in(python, tmp_path, "m")
    assert got.value == "new" and pyc.read_bytes()[:4] == data[:4]  # rewritten


def test_other_optimization_levels_are_never_read(python: Path, tmp_path: Path) -> None:
    """Rule 5: only ``cache_from_source(optimization=sys.flags.optimize)`` is read; an
    ``.opt-0`` name is never generated nor read."""
    src = module(tmp_path, "m", "old")
    opt1 = compile_in(python, src, optimize=1)
    plain = compile_in(python, src)
    opt0 = plain.with_name(plain.name.replace(".pyc", ".opt-0.pyc"))
    shutil.copy2(plain, opt0)
    plain.unlink()
    edit_keeping_mtime(src, 'V = "new"\n')
    target = target_for(python)
    assert category(target, tmp_path, opt1) is C.IGNORED
    assert category(target, tmp_path, opt0) is C.IGNORED
    got = import_in(python, tmp_path, "m", write=False)
    assert got.value == "new" and not got.read & {str(opt1), str(opt0)}
    # under -O the opt-1 pyc is the one read: old code
    assert category(target_for(python, optimize=1), tmp_path, opt1) is C.STALE_ACCEPTED
    assert import_in(python, tmp_path, "m", "-O", write=False).value == "old"


def test_immutable_pyc_is_not_rewritten(python: Path, tmp_path: Path) -> None:
    """Rule 6: ``_write_atomic`` ends in ``os.replace``, which an immutable pyc refuses."""
    if shutil.which("chattr") is None:
        pytest.skip("no chattr")
    src = module(tmp_path, "m", "old")
    pyc = compile_in(python, src)
    src.write_text('V = "new, longer"\n')
    if subprocess.run(["chattr", "+i", str(pyc)], check=False).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    try:
        before = pyc.read_bytes()
        assert category(target_for(python), tmp_path, pyc) is C.STALE_NOT_REWRITTEN
        got = import_in(python, tmp_path, "m")
        assert got.value == "new, longer" and pyc.read_bytes() == before
    finally:
        subprocess.run(["chattr", "-i", str(pyc)], check=False)


def test_legacy_pyc_rules(python: Path, tmp_path: Path) -> None:
    """Rule 7: a legacy pyc needs a module name; a bad magic number is an ``ImportError``; a
    dangling ``m.py`` symlink is no source (``_path_isfile``), so ``m.pyc`` is imported."""
    tag = tag_of(python)
    a = module(tmp_path, "a", "a-old")
    dotted = tmp_path / f"a.{tag}.pyc"
    compile_in(python, a, cfile=dotted)
    legacy = tmp_path / "b.pyc"
    compile_in(python, module(tmp_path, "b", "b-old"), cfile=legacy)
    (tmp_path / "b.py").unlink()
    (tmp_path / "b.py").symlink_to(tmp_path / "gone.py")
    bad = tmp_path / "c.pyc"
    compile_in(python, module(tmp_path, "c", "c-old"), cfile=bad)
    (tmp_path / "c.py").unlink()
    bad.write_bytes(b"\x01\x02\r\n" + bad.read_bytes()[4:])
    a.unlink()
    target = target_for(python)
    assert category(target, tmp_path, dotted) is C.IGNORED
    assert category(target, tmp_path, legacy) is C.SOURCELESS
    assert category(target, tmp_path, bad) is C.BROKEN
    assert import_in(python, tmp_path, "a", write=False).error == "ModuleNotFoundError"
    got = import_in(python, tmp_path, "b", write=False)
    assert got.value == "b-old" and str(legacy) in got.read
    assert import_in(python, tmp_path, "c", write=False).error == "ImportError"


def test_symlinked_pyc_is_judged(python: Path, tmp_path: Path) -> None:
    """Rule 9: the import system reads a pyc through a symlink."""
    src = module(tmp_path, "m", "old")
    pyc = compile_in(python, src)
    real = tmp_path / "elsewhere.bin"
    pyc.rename(real)
    pyc.symlink_to(real)
    edit_keeping_mtime(src, 'V = "new"\n')
    assert category(target_for(python), tmp_path, pyc) is C.STALE_ACCEPTED
    assert import_in(python, tmp_path, "m", write=False).value == "old"


def test_pycache_prefix_inside_the_tree_is_judged_once(python: Path, tmp_path: Path) -> None:
    """Rule 8: with ``sys.pycache_prefix`` inside a scanned tree, each prefix pyc is judged once,
    as a prefix pyc (not also as a legacy sourceless pyc)."""
    prefix = tmp_path / "cache"
    src = module(tmp_path, "m", "old")
    env = clean_env(PYTHONPYCACHEPREFIX=str(prefix))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run([python, "-c", "import m"], env=env, cwd=tmp_path)
    (pyc,) = prefix.rglob("m.*.pyc")
    edit_keeping_mtime(src, 'V = "new"\n')
    target = target_for(python, pycache_prefix=str(prefix))
    summary = scan_bytecode([ScanRoot(path=str(tmp_path), location=LocationClass.PROJECT)], target)
    listed = [(g.category, p) for g in summary.groups for p in g.paths if p == str(pyc)]
    assert listed == [(C.STALE_ACCEPTED, str(pyc))]
    assert run([python, "-c", "import m; print(m.V)"], env=env, cwd=tmp_path).stdout == "old\n"


def test_judge_file_follows_the_same_rules(python: Path, tmp_path: Path) -> None:
    """``judge_file`` (used by ``which``) sees a shadowing package as the scan does."""
    src = module(tmp_path, "m", "old")
    pyc = compile_in(python, src)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "__init__.py").write_text("")
    assert judge_file(str(pyc), str(src), target_for(python)) is C.SHADOWED


def test_working_directory_is_scanned_without_a_project_file(tmp_path: Path) -> None:
    """Issue 13: a plain directory of scripts is ``sys.path[0]``: its bytecode is judged, and the
    stale-accepted finding names every pyc and the source it hides."""
    python = require_python("3.12")
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    src = module(helpers, "money", "old")
    pyc = compile_in(python, src)
    edit_keeping_mtime(src, 'V = "new"\n')
    data = report_json(python, clean_env(), tmp_path)
    finding = next(f for f in data["findings"] if f["code"] == "bytecode-stale-accepted")
    assert f"{pyc} (old code of {src})" in finding["evidence"]
    assert finding["commands"] == [f"rm -f -- {pyc}"]
    group = next(g for g in data["bytecode"]["groups"] if g["category"] == "stale-accepted")
    assert group["paths"] == [str(pyc)] and group["location_class"] == "script-dir"
    assert run([python, "-c", "import helpers.money as m; print(m.V)"], cwd=tmp_path).stdout == (
        "old\n"
    )
    # The suggested command repairs it: the new code runs.
    run(["sh", "-c", finding["commands"][0]])
    assert run([python, "-c", "import helpers.money as m; print(m.V)"], cwd=tmp_path).stdout == (
        "new\n"
    )


def test_home_as_working_directory_scans_only_its_packages(tmp_path: Path) -> None:
    """Issue 13: in the home directory only what ``sys.path[0]`` makes importable as a regular
    package is scanned, and the report says so."""
    python = require_python("3.12")
    home = tmp_path / "home"
    (home / "pkg").mkdir(parents=True)
    (home / "pkg" / "__init__.py").write_text("")
    inside = compile_in(python, module(home / "pkg", "m", "old"))
    (home / "Downloads" / "proj").mkdir(parents=True)
    outside = compile_in(python, module(home / "Downloads" / "proj", "x", "old"))
    edit_keeping_mtime(home / "pkg" / "m.py", 'V = "new"\n')
    edit_keeping_mtime(home / "Downloads" / "proj" / "x.py", 'V = "new"\n')
    data = report_json(python, clean_env(HOME=str(home)), home)
    paths = [p for g in data["bytecode"]["groups"] for p in g["paths"]]
    assert str(inside) in paths and str(outside) not in paths
    assert any("home directory" in s["reason"] for s in data["skipped"])


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian python")
def test_debian_python_reads_the_same_rules(tmp_path: Path) -> None:
    """The rules hold for Debian's build too (its own extension suffixes and dist-packages)."""
    src = module(tmp_path, "m", "old")
    pyc = compile_in(DEBIAN_PYTHON, src)
    edit_keeping_mtime(src, 'V = "new\n\n')
    assert category(target_for(DEBIAN_PYTHON), tmp_path, pyc) is C.STALE_ACCEPTED
    assert import_in(DEBIAN_PYTHON, tmp_path, "m").value == "old"
