"""sys.path and location classes on real interpreters: non-UTF-8 paths, the user site, .pth
hidden files, module counts, and bad input that must not raise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env, report_json, require_python, run
from pyenvdoctor.collect.bytecode import BytecodeTarget, ScanRoot, scan_bytecode
from pyenvdoctor.model import LocationClass


def test_non_utf8_path_round_trips_through_json(tmp_path: Path) -> None:
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff"
    os.mkdir(raw)
    env = clean_env()
    env_bytes = {k.encode(): v.encode() for k, v in env.items()}
    env_bytes[b"PYTHONPATH"] = raw
    proc = subprocess.run(
        [
            sys.executable,
            "-I",
            "-m",
            "pyenvdoctor",
            "report",
            "--python",
            sys.executable,
            "--format",
            "json",
        ],
        env=env_bytes,  # bytes: the path is not valid UTF-8
        capture_output=True,
        cwd=tmp_path,
        check=True,
    )
    text = proc.stdout.decode("utf-8")  # valid UTF-8 although the path is not
    assert "\\udce9-\\udcff" in text
    data = json.loads(text)
    entry = next(e for e in data["sys_path"] if e["location"] == "pythonpath")
    assert os.fsencode(entry["path"]) == raw
    assert entry["exists"] is True


def test_user_site_and_module_counts(tmp_path: Path) -> None:
    python = require_python("3.12")
    user_base = tmp_path / "userbase"
    site = user_base / "lib" / "python3.12" / "site-packages"
    site.mkdir(parents=True)
    (site / "usermod.py").write_text("")
    (site / "json.py").write_text("")  # shadowed: the stdlib json comes first
    info = site / "userdist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: userdist\nVersion: 1.0\n")
    data = report_json(python, clean_env(PYTHONUSERBASE=str(user_base)), tmp_path)
    assert data["interpreter"]["user_site_enabled"] is True
    assert data["interpreter"]["kind"] == "pyenv"
    classes = {e["path"]: e["location"] for e in data["sys_path"]}
    assert classes[str(site)] == "user-site"
    userdist = next(d for d in data["distributions"] if d["canonical_name"] == "userdist")
    assert userdist["location_class"] == "user-site"
    modules = {m["location_class"]: m for m in data["modules"]}
    assert modules["user-site"] == {"location_class": "user-site", "modules": 1, "shadowed": 1}
    # builtin and frozen modules answer before any sys.path entry (FrozenImporter, 3.11+)
    first = run(
        [
            python,
            "-c",
            (
                "import sys, _imp, importlib.machinery as m; "
                "f = [n for n in _imp._frozen_module_names() if '.' not in n and m.FrozenImporter.find_spec(n)]; "
                "print(len(set(sys.builtin_module_names) | set(f)))"
            ),
        ]
    ).stdout.strip()
    assert modules["builtin"]["modules"] == int(first)
    assert modules["stdlib"]["modules"] > 150


def test_hidden_pth_files_follow_the_targets_rule(tmp_path: Path) -> None:
    """CPython 3.13 ``site.addsitedir`` skips .pth files whose name starts with a dot; 3.12
    processes them. The report must say what each interpreter really does: the oracle is the
    target's own ``sys.path`` (3.8 to 3.13, whose ``site`` is frozen from 3.11 on)."""
    minors = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
    for minor in minors:
        python = require_python(minor)
        venv = tmp_path / f"v{minor}"
        run([python, "-m", "venv", "--without-pip", venv])
        sp = venv / "lib" / f"python{minor}" / "site-packages"
        target = tmp_path / f"added{minor}"
        target.mkdir()
        (sp / ".hidden.pth").write_text(f"{target}\n")
        real = run([venv / "bin" / "python", "-c", "import sys; print(sys.path)"]).stdout
        skipped = repr(str(target)) not in real
        data = report_json(venv / "bin" / "python", clean_env(), tmp_path)
        pth = next(p for p in data["pth_files"] if p["path"].endswith(".hidden.pth"))
        on_path = str(target) in [e["path"] for e in data["sys_path"]]
        assert on_path is not skipped
        assert (pth["skipped"] is not None) is skipped
        if not skipped:
            entry = next(e for e in data["sys_path"] if e["path"] == str(target))
            assert (entry["location"], entry["pth_file"]) == ("pth", str(sp / ".hidden.pth"))


def test_missing_scan_root_is_reported_not_raised(tmp_path: Path) -> None:
    target = BytecodeTarget(
        executable=sys.executable,
        version_info=(sys.version_info[0], sys.version_info[1]),
        cache_tag=sys.implementation.cache_tag or "",
        magic_number=b"\0\0\r\n",
        check_hash_based_pycs="default",
    )
    gone = tmp_path / "gone"
    summary = scan_bytecode([ScanRoot(path=str(gone), location=LocationClass.OTHER)], target)
    assert summary.unreadable == (str(gone),)
    assert summary.groups == ()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_directory_is_a_finding(tmp_path: Path) -> None:  # pragma: no cover
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        data = report_json(sys.executable, clean_env(PYTHONPATH=str(tmp_path)), tmp_path)
    finally:
        locked.chmod(0o700)
    finding = next(f for f in data["findings"] if f["code"] == "scan-unreadable")
    assert str(locked) in finding["evidence"]
