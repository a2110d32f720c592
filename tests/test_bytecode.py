"""Bytecode classification against what the target interpreter really does on import."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from conftest import clean_env, require_python, run
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.collect.interpreter import run_probe
from pyenvdoctor.model import BytecodeCategory, BytecodeSummary, LocationClass


def target_for(python: Path) -> BytecodeTarget:
    data = run_probe(str(python)).data
    it = data["interpreter"]
    return BytecodeTarget(
        executable=str(python),
        version_info=(it["version_info"][0], it["version_info"][1]),
        cache_tag=it["implementation"]["cache_tag"],
        magic_number=bytes.fromhex(it["magic_number"]),
        check_hash_based_pycs=data["flags"]["check_hash_based_pycs"],
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


def imports_value(python: Path, directory: Path, module: str) -> str:
    """What ``import module`` really gives in the target (bytecode writing off)."""
    env = clean_env(PYTHONDONTWRITEBYTECODE="1")
    return run(
        [python, "-c", f"import {module}; print({module}.VALUE)"], env=env, cwd=directory
    ).stdout.strip()


def categories(summary: BytecodeSummary) -> dict[str, BytecodeCategory]:
    return {Path(e).name: g.category for g in summary.groups for e in g.examples}


@pytest.mark.parametrize("minor", ["3.8", "3.11", "3.13"])
def test_each_category_matches_the_import_system(tmp_path: Path, minor: str) -> None:
    python = require_python(minor)
    target = target_for(python)
    tag = target.cache_tag
    d = tmp_path / "tree"
    d.mkdir()
    # fresh
    (d / "fresh.py").write_text("VALUE = 'fresh'\n")
    compile_in(python, d / "fresh.py")
    # stale (size changed): recompiled, the new code runs
    (d / "edited.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "edited.py")
    (d / "edited.py").write_text("VALUE = 'newer'\n")
    # unchecked hash, source changed: the OLD code runs
    (d / "unchecked.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "unchecked.py", "UNCHECKED_HASH")
    (d / "unchecked.py").write_text("VALUE = 'new'\n")
    # checked hash, source changed: recompiled
    (d / "checked.py").write_text("VALUE = 'old'\n")
    compile_in(python, d / "checked.py", "CHECKED_HASH")
    (d / "checked.py").write_text("VALUE = 'new'\n")
    # orphaned: source deleted
    (d / "deleted.py").write_text("VALUE = 'x'\n")
    compile_in(python, d / "deleted.py")
    (d / "deleted.py").unlink()
    # sourceless legacy pyc: imported
    (d / "legacy.py").write_text("VALUE = 'legacy'\n")
    compile_in(python, d / "legacy.py")
    os.replace(d / "__pycache__" / f"legacy.{tag}.pyc", d / "legacy.pyc")
    (d / "legacy.py").unlink()
    # foreign: another tag, and a truncated header
    (d / "__pycache__" / "fresh.cpython-27.pyc").write_bytes(b"\x03\xf3\r\n" + b"\0" * 12)
    (d / "short.py").write_text("VALUE = 1\n")
    (d / "__pycache__" / f"short.{tag}.pyc").write_bytes(b"\x00\x01")

    summary = scan_bytecode([ScanRoot(path=str(d), location=LocationClass.PROJECT)], target)
    got = categories(summary)
    assert got == {
        f"fresh.{tag}.pyc": BytecodeCategory.FRESH,
        f"edited.{tag}.pyc": BytecodeCategory.STALE,
        f"unchecked.{tag}.pyc": BytecodeCategory.UNCHECKED_HASH,
        f"checked.{tag}.pyc": BytecodeCategory.STALE,
        f"deleted.{tag}.pyc": BytecodeCategory.ORPHANED,
        "legacy.pyc": BytecodeCategory.SOURCELESS,
        "fresh.cpython-27.pyc": BytecodeCategory.FOREIGN,
        f"short.{tag}.pyc": BytecodeCategory.FOREIGN,
    }
    assert summary.scanned_files == 8
    # The interpreter agrees: stale is recompiled, unchecked-hash runs the old code,
    # sourceless is imported.
    assert imports_value(python, d, "edited") == "newer"
    assert imports_value(python, d, "unchecked") == "old"
    assert imports_value(python, d, "checked") == "new"
    assert imports_value(python, d, "legacy") == "legacy"


def test_never_mode_accepts_checked_hash(tmp_path: Path) -> None:
    python = Path(sys.executable)
    target = target_for(python)
    (tmp_path / "m.py").write_text("VALUE = 'old'\n")
    compile_in(python, tmp_path / "m.py", "CHECKED_HASH")
    (tmp_path / "m.py").write_text("VALUE = 'new'\n")
    never = BytecodeTarget(
        executable=target.executable,
        version_info=target.version_info,
        cache_tag=target.cache_tag,
        magic_number=target.magic_number,
        check_hash_based_pycs="never",
    )
    summary = scan_bytecode([ScanRoot(path=str(tmp_path), location=LocationClass.OTHER)], never)
    assert [g.category for g in summary.groups] == [BytecodeCategory.UNCHECKED_HASH]
    env = clean_env(PYTHONDONTWRITEBYTECODE="1")
    out = run(
        [python, "--check-hash-based-pycs", "never", "-c", "import m; print(m.VALUE)"],
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert out == "old"


def test_walk_scans_each_directory_once_and_skips_foreign_site_dirs(tmp_path: Path) -> None:
    python = Path(sys.executable)
    target = target_for(python)
    root = tmp_path / "root"
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "__pycache__" / f"gone.{target.cache_tag}.pyc").write_bytes(b"x" * 20)
    # a symlink to a directory outside the root is not followed
    outside = tmp_path / "outside"
    (outside / "__pycache__").mkdir(parents=True)
    (outside / "__pycache__" / f"o.{target.cache_tag}.pyc").write_bytes(b"x" * 20)
    (root / "link").symlink_to(outside)
    # a site-packages directory that is not a root is not entered
    (root / "lib" / "site-packages" / "__pycache__").mkdir(parents=True)
    (root / "lib" / "site-packages" / "__pycache__" / f"s.{target.cache_tag}.pyc").write_bytes(
        b"x" * 20
    )
    summary = scan_bytecode(
        [
            ScanRoot(path=str(root), location=LocationClass.PROJECT),
            ScanRoot(path=str(root / "pkg"), location=LocationClass.OTHER),
        ],
        target,
    )
    assert summary.scanned_files == 1
    (group,) = summary.groups
    assert (group.category, group.files, group.bytes) == (BytecodeCategory.ORPHANED, 1, 20)
