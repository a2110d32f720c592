"""Bytecode classification against what the target interpreter really does on import.

Every class is produced with the target's own tools (py_compile with each PycInvalidationMode,
compileall -b, an import under PYTHONPYCACHEPREFIX, a copied pyc of another version, a built
extension module), and each test runs the module in the target to show what really executes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import clean_env, report_json, require_python, run
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.collect.interpreter import run_probe
from pyenvdoctor.model import BytecodeCategory as C
from pyenvdoctor.model import BytecodeSummary, LocationClass


def target_for(python: Path) -> BytecodeTarget:
    """The target's facts, from its probe (as the report gets them)."""
    data = run_probe(str(python)).data
    it = data["interpreter"]
    return BytecodeTarget(
        executable=str(python),
        version_info=(it["version_info"][0], it["version_info"][1]),
        cache_tag=it["implementation"]["cache_tag"],
        magic_number=bytes.fromhex(it["magic_number"]),
        check_hash_based_pycs=data["flags"]["check_hash_based_pycs"],
        extension_suffixes=tuple(data["imports"]["suffixes"]["extension"]),
    )


def compile_in(python: Path, path: Path, mode: str = "TIMESTAMP") -> None:
    """Compile with the target's own py_compile (PEP 552 invalidation ``mode``)."""
    run(
        [
            python,
            "-c",
            (
                "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True, "
                f"invalidation_mode=py_compile.PycInvalidationMode.{mode})"
            ),
            path,
        ]
    )


def value_in(python: Path, directory: Path, module: str, *flags: str, **env: str) -> str:
    """What ``import module`` really gives in the target (bytecode writing off by default)."""
    environ = clean_env(PYTHONDONTWRITEBYTECODE="1", **env)
    code = f"import {module}; print({module}.VALUE)"
    return run([python, *flags, "-c", code], env=environ, cwd=directory).stdout.strip()


def scan(target: BytecodeTarget, *roots: Path) -> BytecodeSummary:
    return scan_bytecode(
        [ScanRoot(path=str(r), location=LocationClass.PROJECT) for r in roots], target
    )


def categories(summary: BytecodeSummary) -> dict[str, C]:
    return {Path(e).name: g.category for g in summary.groups for e in g.examples}


def edit_keeping_mtime(path: Path, text: str) -> None:
    """Replace ``path``'s text by one of the same length and restore its mtime (``touch -r``)."""
    st = path.stat()
    assert len(text.encode()) == st.st_size
    path.write_text(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("minor", ["3.8", "3.11", "3.13"])
def test_each_category_matches_the_import_system(tmp_path: Path, minor: str) -> None:
    python = require_python(minor)
    target = target_for(python)
    tag = target.cache_tag
    d = tmp_path / "tree"
    d.mkdir()
    (d / "fresh.py").write_text("VALUE = 'fresh'\n")
    compile_in(python, d / "fresh.py")
    # timestamp pyc, source edited to another size: rejected, the new code runs
    (d / "edited.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "edited.py")
    (d / "edited.py").write_text("VALUE = 'newer'\n")
    # timestamp pyc, same-size edit with the mtime restored: ACCEPTED, the old code runs
    (d / "restored.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "restored.py")
    edit_keeping_mtime(d / "restored.py", "VALUE = 'new'\n")
    # the same, but the edit does not change the code: a candidate, confirmed fresh
    (d / "comment.py").write_text("VALUE = 'x'  # a\n")
    compile_in(python, d / "comment.py")
    edit_keeping_mtime(d / "comment.py", "VALUE = 'x'  # b\n")
    # unchecked hash, source changed: ACCEPTED, the old code runs
    (d / "unchecked.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "unchecked.py", "UNCHECKED_HASH")
    (d / "unchecked.py").write_text("VALUE = 'new'\n")
    # checked hash, source changed: rejected
    (d / "checked.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "checked.py", "CHECKED_HASH")
    (d / "checked.py").write_text("VALUE = 'new'\n")
    # orphaned: source deleted
    (d / "deleted.py").write_text("VALUE = 'x'\n")
    compile_in(python, d / "deleted.py")
    (d / "deleted.py").unlink()
    # sourceless legacy pyc (compileall -b), and a package whose only __init__ is one
    (d / "legacy.py").write_text("VALUE = 'legacy'\n")
    (d / "oldpkg").mkdir()
    (d / "oldpkg" / "__init__.py").write_text("VALUE = 'oldpkg'\n")
    run([python, "-m", "compileall", "-q", "-b", d / "legacy.py", d / "oldpkg"])
    (d / "legacy.py").unlink()
    (d / "oldpkg" / "__init__.py").unlink()
    # foreign: a truncated header
    (d / "short.py").write_text("VALUE = 1\n")
    (d / "__pycache__" / f"short.{tag}.pyc").write_bytes(b"\x00\x01")

    summary = scan(target, d)
    assert categories(summary) == {
        f"fresh.{tag}.pyc": C.FRESH,
        f"comment.{tag}.pyc": C.FRESH,
        f"edited.{tag}.pyc": C.STALE,
        f"checked.{tag}.pyc": C.STALE,
        f"restored.{tag}.pyc": C.STALE_ACCEPTED,
        f"unchecked.{tag}.pyc": C.STALE_ACCEPTED,
        f"deleted.{tag}.pyc": C.ORPHANED,
        "legacy.pyc": C.SOURCELESS,
        "__init__.pyc": C.SOURCELESS,
        f"short.{tag}.pyc": C.STALE,  # read at its own cache path: rejected, recompiled
    }
    assert summary.scanned_files == 10
    # The interpreter agrees.
    assert value_in(python, d, "edited") == "newer"
    assert value_in(python, d, "checked") == "new"
    assert value_in(python, d, "restored") == "old"
    assert value_in(python, d, "unchecked") == "old"
    assert value_in(python, d, "legacy") == "legacy"
    assert value_in(python, d, "oldpkg") == "oldpkg"


def test_never_mode_accepts_checked_hash(tmp_path: Path) -> None:
    python = Path(sys.executable)
    (tmp_path / "m.py").write_text("VALUE = 'old'\n")
    compile_in(python, tmp_path / "m.py", "CHECKED_HASH")
    (tmp_path / "m.py").write_text("VALUE = 'new'\n")
    target = target_for(python)
    assert [g.category for g in scan(target, tmp_path).groups] == [C.STALE]
    never = replace(target, check_hash_based_pycs="never")
    assert [g.category for g in scan(never, tmp_path).groups] == [C.STALE_ACCEPTED]
    assert value_in(python, tmp_path, "m", "--check-hash-based-pycs", "never") == "old"
    assert value_in(python, tmp_path, "m") == "new"


def test_foreign_version_bytecode(tmp_path: Path) -> None:
    old, new = require_python("3.10"), require_python("3.11")
    (tmp_path / "m.py").write_text("VALUE = 1\n")
    compile_in(old, tmp_path / "m.py")  # a real cpython-310 file
    compile_in(new, tmp_path / "m.py")
    # and a 3.10 pyc renamed to the 3.11 tag: right name, unknown magic number
    shutil.copy(
        tmp_path / "__pycache__" / "m.cpython-310.pyc",
        tmp_path / "__pycache__" / "m.cpython-311.opt-1.pyc",
    )
    got = categories(scan(target_for(new), tmp_path))
    assert got == {
        "m.cpython-310.pyc": C.FOREIGN,
        "m.cpython-311.pyc": C.FRESH,
        "m.cpython-311.opt-1.pyc": C.IGNORED,  # read only under -O
    }


def test_stale_bytecode_not_rewritten_when_writing_is_off(tmp_path: Path) -> None:
    python = Path(sys.executable)
    (tmp_path / "m.py").write_text("VALUE = 'old'\n")
    compile_in(python, tmp_path / "m.py")
    (tmp_path / "m.py").write_text("VALUE = 'newer'\n")
    pyc = tmp_path / "__pycache__" / f"m.{sys.implementation.cache_tag}.pyc"
    target = target_for(python)
    assert categories(scan(replace(target, dont_write_bytecode=True), tmp_path)) == {
        pyc.name: C.STALE_NOT_REWRITTEN
    }
    assert categories(scan(replace(target, dont_write_bytecode=False), tmp_path)) == {
        pyc.name: C.STALE
    }
    before = pyc.read_bytes()
    assert value_in(python, tmp_path, "m") == "newer"  # with PYTHONDONTWRITEBYTECODE=1
    assert pyc.read_bytes() == before  # ... and the stale pyc stays: recompiled next time too


def test_pycache_prefix_tree(tmp_path: Path) -> None:
    python = Path(sys.executable)
    prefix = tmp_path / "prefix"
    src = tmp_path / "src"
    src.mkdir()
    (src / "m.py").write_text("VALUE = 'old'\n")
    compile_in(python, src / "m.py")  # an in-tree pyc, which the prefix run ignores
    env = clean_env(PYTHONPYCACHEPREFIX=str(prefix))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # this machine sets it
    run([python, "-c", "import m"], env=env, cwd=src)  # writes the pyc under the prefix
    mirrored = prefix / str(src).lstrip(os.sep) / f"m.{sys.implementation.cache_tag}.pyc"
    assert mirrored.is_file()
    edit_keeping_mtime(src / "m.py", "VALUE = 'new'\n")
    target = replace(target_for(python), pycache_prefix=str(prefix))
    summary = scan_bytecode(
        [ScanRoot(path=str(src), location=LocationClass.PROJECT)],
        target,
        classify=lambda p: LocationClass.PROJECT,
    )
    got = {e: g.category for g in summary.groups for e in g.examples}
    assert {e: c for e, c in got.items() if c is not C.FRESH} == {
        str(src / "__pycache__" / mirrored.name): C.IGNORED,
        str(mirrored): C.STALE_ACCEPTED,
    }
    # the stdlib modules that run imported were cached under the prefix too, and are fresh
    assert any("encodings" in e for e, c in got.items() if c is C.FRESH)
    runs = run([python, "-c", "import m; print(m.VALUE)"], env=env, cwd=src).stdout.strip()
    assert runs == "old"
    # Through the CLI: the probe reports the prefix, and the findings say it.
    data = report_json(python, env, src, "--path", str(src))
    assert data["interpreter"]["pycache_prefix"] == str(prefix)
    codes = {f["code"]: f for f in data["findings"]}
    assert str(mirrored) in codes["bytecode-stale-accepted"]["evidence"]
    assert codes["bytecode-stale-accepted"]["commands"] == [f"rm -f -- {mirrored}"]
    assert "bytecode-ignored" in codes


def test_extension_module_beside_its_source(tmp_path: Path) -> None:
    python = require_python("3.11")
    config = python.parent / "python3.11-config"
    if shutil.which("gcc") is None or not config.exists():
        pytest.skip("no gcc or python3.11-config")
    target = target_for(python)
    (tmp_path / "fast.py").write_text("VALUE = 'python'\n")
    (tmp_path / "fast.c").write_text(
        "#include <Python.h>\n"
        'static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "fast", NULL, -1, NULL};\n'
        "PyMODINIT_FUNC PyInit_fast(void) { PyObject *mod = PyModule_Create(&m);\n"
        '  PyModule_AddStringConstant(mod, "VALUE", "extension"); return mod; }\n'
    )
    includes = run([config, "--includes"]).stdout.split()
    ext = tmp_path / ("fast" + target.extension_suffixes[0])
    run(["gcc", "-shared", "-fPIC", *includes, tmp_path / "fast.c", "-o", ext])
    got = categories(scan(target, tmp_path))
    assert got == {ext.name: C.EXTENSION_BESIDE_SOURCE}
    assert value_in(python, tmp_path, "fast") == "extension"


def test_walk_scans_each_directory_once_and_skips_foreign_site_dirs(tmp_path: Path) -> None:
    target = target_for(Path(sys.executable))
    tag = target.cache_tag
    root = tmp_path / "root"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__pycache__" / f"gone.{tag}.pyc").write_bytes(b"x" * 20)
    # a symlink to a directory outside the root is not followed
    outside = tmp_path / "outside"
    (outside / "__pycache__").mkdir(parents=True)
    (outside / "__pycache__" / f"o.{tag}.pyc").write_bytes(b"x" * 20)
    (root / "link").symlink_to(outside)
    # a site-packages directory that is not a root, and another venv, are not entered
    for sub in ("lib/site-packages", "venv2"):
        (root / sub / "__pycache__").mkdir(parents=True)
        (root / sub / "__pycache__" / f"s.{tag}.pyc").write_bytes(b"x" * 20)
    (root / "venv2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    summary = scan_bytecode(
        [
            ScanRoot(path=str(root), location=LocationClass.PROJECT),
            ScanRoot(path=str(root / "pkg"), location=LocationClass.OTHER),
            ScanRoot(path=str(root), location=LocationClass.PROJECT),
        ],
        target,
    )
    assert summary.scanned_files == 1
    (group,) = summary.groups
    assert (group.category, group.files, group.bytes) == (C.ORPHANED, 1, 20)


def test_a_symlinked_pycache_is_judged_against_the_sources_beside_the_link(
    tmp_path: Path,
) -> None:
    """``pkg/__pycache__`` a symlink to a shared directory: the import system reads the pycs
    through the link and checks them against ``pkg``'s sources; so does the scan (by full
    paths there: ``..`` of the link's target would be the shared directory's parent)."""
    python = Path(sys.executable)
    target = target_for(python)
    pkg, shared = tmp_path / "root" / "pkg", tmp_path / "shared" / "cache"
    pkg.mkdir(parents=True)
    shared.mkdir(parents=True)
    (pkg / "__pycache__").symlink_to(shared)
    (pkg / "m.py").write_text("VALUE = 'first'\n")
    compile_in(python, pkg / "m.py")
    assert [p.name for p in shared.iterdir()] == [f"m.{target.cache_tag}.pyc"]
    roots = [ScanRoot(path=str(tmp_path / "root"), location=LocationClass.PROJECT)]

    def verdicts() -> list[tuple[C, int]]:
        return [(g.category, g.files) for g in scan_bytecode(roots, target).groups]

    assert verdicts() == [(C.FRESH, 1)]
    (pkg / "m.py").write_text("VALUE = 'second, longer'\n")
    assert verdicts() == [(C.STALE, 1)]
    assert value_in(python, pkg, "m") == "second, longer"


def test_suggested_commands_remove_only_what_needs_removing(tmp_path: Path) -> None:
    """Run each finding's command as printed; afterwards only fresh bytecode and every source
    remain, and the import runs the current code."""
    python = Path(sys.executable)
    d = tmp_path / "proj"
    d.mkdir()
    (d / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '0'\n")
    (d / "keep.py").write_text("VALUE = 'keep'\n")
    compile_in(python, d / "keep.py")
    (d / "restored.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "restored.py")
    edit_keeping_mtime(d / "restored.py", "VALUE = 'new'\n")
    (d / "gone.py").write_text("X = 1\n")
    compile_in(python, d / "gone.py")
    (d / "gone.py").unlink()
    (d / "__pycache__" / "keep.cpython-27.pyc").write_bytes(b"\x03\xf3\r\n" + b"\0" * 12)
    data = report_json(python, clean_env(), d)
    by_code = {f["code"]: f for f in data["findings"] if f["code"].startswith("bytecode-")}
    assert {"bytecode-stale-accepted", "bytecode-orphaned", "bytecode-foreign"} <= set(by_code)
    for code in ("bytecode-stale-accepted", "bytecode-orphaned", "bytecode-foreign"):
        for command in by_code[code]["commands"]:
            run(["sh", "-c", command], cwd=d)
    left = sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file())
    tag = sys.implementation.cache_tag
    assert left == [f"__pycache__/keep.{tag}.pyc", "keep.py", "pyproject.toml", "restored.py"]
    assert value_in(python, d, "restored") == "new"
    assert json.loads(json.dumps(data))["bytecode"]["scanned_files"] >= 4


def test_background_scan_agrees_with_the_sequential_scan() -> None:
    """The forked scan (tasks split at depth 2, taken from a pipe by two workers, merged) gives
    exactly what one process gives on a real tree, examples included: they are the smallest
    paths, whichever worker met them."""
    from pyenvdoctor.collect.bytecode import BackgroundScan

    python = require_python("3.11")
    target = target_for(python)
    stdlib = Path(
        run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"]).stdout.strip()
    )
    roots = [ScanRoot(path=str(stdlib), location=LocationClass.STDLIB)]
    one = scan_bytecode(roots, target)
    seen: list[int] = []
    scan = BackgroundScan(roots, target, progress=seen.append)
    assert len(scan._workers) == BackgroundScan.WORKERS  # forked, not the in-process fallback
    pooled = scan.result()
    assert pooled == one and one.scanned_files > 1000
    fresh = next(g for g in one.groups if g.category is C.FRESH)
    assert len(fresh.examples) == 5 and list(fresh.examples) == sorted(fresh.examples)
    # Progress: at least each worker's final count, never decreasing, ending at the total.
    assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] == one.scanned_files


def test_background_scan_examples_are_the_smallest_paths(tmp_path: Path) -> None:
    """Orphaned pycs spread over many packages, far more than the 5 examples a harmless group
    keeps: the examples are the 5 smallest paths, whatever order the directories are listed
    and the workers finish in."""
    from pyenvdoctor.collect.bytecode import MAX_EXAMPLES, BackgroundScan

    python = require_python("3.11")
    target = target_for(python)
    tag = target.cache_tag
    for i in range(40):
        cache = tmp_path / f"p{i:02}" / "sub" / "__pycache__"
        cache.mkdir(parents=True)
        for j in range(3):
            (cache / f"m{j}.{tag}.pyc").write_bytes(b"x" * 20)
    roots = [ScanRoot(path=str(tmp_path), location=LocationClass.OTHER)]
    summary = BackgroundScan(roots, target).result()
    (group,) = summary.groups
    smallest = sorted(str(p) for p in tmp_path.rglob("*.pyc"))[:MAX_EXAMPLES]
    assert (group.category, group.files) == (C.ORPHANED, 120)
    assert list(group.examples) == smallest
    assert scan_bytecode(roots, target) == summary


def test_background_scan_close_reaps_its_workers(tmp_path: Path) -> None:
    """Closing a scan before its result (the report failed meanwhile) leaves no process."""
    from pyenvdoctor.collect.bytecode import BackgroundScan

    python = require_python("3.11")
    target = target_for(python)
    stdlib = run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"])
    roots = [ScanRoot(path=stdlib.stdout.strip(), location=LocationClass.STDLIB)]
    scan = BackgroundScan(roots, target)
    pids = [pid for pid, _fd in scan._workers]
    assert len(pids) == BackgroundScan.WORKERS
    scan.close()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped: no longer this process's child


def test_background_scan_passes_on_a_worker_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that fails gives its exception to the caller rather than a partial count."""
    from pyenvdoctor.collect import bytecode

    python = require_python("3.11")
    target = target_for(python)
    (tmp_path / "pkg").mkdir()

    def broken(*_args: object) -> None:
        raise UnicodeError("a directory the worker cannot take")

    monkeypatch.setattr(bytecode, "_run_task", broken)  # the workers fork with it
    scan = bytecode.BackgroundScan(
        [ScanRoot(path=str(tmp_path), location=LocationClass.OTHER)], target
    )
    with pytest.raises(UnicodeError, match="cannot take"):
        scan.result()
