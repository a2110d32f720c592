"""End to end: a real venv with planted problems, inspected through the CLI, compared with
what pip itself says about it (``pip list``, ``pip check``, ``pip cache dir``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from conftest import (
    clean_env,
    cli,
    make_venv,
    make_wheel,
    pip_install,
    report_json,
    run,
    site_packages,
)
from pyenvdoctor.model import Report, from_dict
from pyenvdoctor.render import OutputFormat

# pip list hides these (pip ``_internal/utils/compat.py`` stdlib_pkgs).
PIP_LIST_SKIPS = {"python", "wsgiref", "argparse"}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A venv with: a conflict and a missing dependency, a legacy egg-link editable install
    and one whose project was deleted, a broken .dist-info, a .pth line that runs code and
    one naming a missing directory, and a second install of a project on PYTHONPATH."""
    root = tmp_path_factory.mktemp("planted")
    py = make_venv(root / "venv")
    sp = site_packages(py)
    wheels = root / "wheels"
    wheels.mkdir()
    pip_install(
        py,
        make_wheel(
            wheels, "alpha", "1.0", requires=("beta>=2.0", "gamma", 'delta; python_version < "3"')
        ),
        make_wheel(wheels, "beta", "1.0"),
        make_wheel(wheels, "dup-proj", "2.0"),
    )
    # A legacy editable install, as `setup.py develop` writes it.
    proj = root / "legacy-checkout"
    (proj / "legacy_pkg.egg-info").mkdir(parents=True)
    (proj / "legacy_pkg.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.1\nName: legacy-pkg\nVersion: 0.3\n"
    )
    (proj / "legacy_pkg").mkdir()
    (proj / "legacy_pkg" / "__init__.py").write_text("")
    (sp / "legacy-pkg.egg-link").write_text(f"{proj}\n.\n")
    (sp / "easy-install.pth").write_text(f"{proj}\n{root / 'gone-checkout'}\nimport sys\n")
    # A PEP 610 editable install whose project directory no longer exists.
    gone = make_wheel(wheels, "gone-editable", "0.1")
    pip_install(py, gone)
    info = next(sp.glob("gone_editable-0.1.dist-info"))
    (info / "direct_url.json").write_text(
        json.dumps({"url": (root / "deleted-project").as_uri(), "dir_info": {"editable": True}})
    )
    # Broken metadata: a .dist-info without METADATA.
    (sp / "broken-9.9.dist-info").mkdir()
    (sp / "broken-9.9.dist-info" / "RECORD").write_text("")
    # A second install of dup-proj, earlier on sys.path (PYTHONPATH).
    extra = root / "extra"
    extra.mkdir()
    run(
        [
            py,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--target",
            extra,
            make_wheel(wheels, "dup-proj", "1.0"),
        ]
    )
    return {"python": py, "site": sp, "extra": extra, "root": root, "legacy": proj}


@pytest.fixture(scope="module")
def env_with_extra(planted: dict[str, Path]) -> dict[str, str]:
    return clean_env(PYTHONPATH=str(planted["extra"]))


@pytest.fixture(scope="module")
def report(planted: dict[str, Path], env_with_extra: dict[str, str]) -> dict[str, Any]:
    return report_json(planted["python"], env_with_extra, planted["root"])


def pip_list(python: Path, env: dict[str, str], cwd: Path) -> dict[str, dict[str, str]]:
    """``pip list --format=json`` of ``python``, keyed by canonical name."""
    proc = run([python, "-m", "pip", "list", "--format=json"], env=env, cwd=cwd)
    return {canonicalize_name(d["name"]): d for d in json.loads(proc.stdout)}


def test_distributions_match_pip_list(
    planted: dict[str, Path], env_with_extra: dict[str, str], report: dict[str, Any]
) -> None:
    pip = pip_list(planted["python"], env_with_extra, planted["root"])
    ours = {
        d["canonical_name"]: d
        for d in report["distributions"]
        if d["visible"] and d["canonical_name"] not in PIP_LIST_SKIPS
    }
    assert {n: d["version"] for n, d in ours.items()} == {n: d["version"] for n, d in pip.items()}
    assert ours["dup-proj"]["version"] == "1.0"  # the PYTHONPATH copy wins, as pip says
    # pip list shows the project of every editable install, PEP 610 and legacy egg-link alike.
    editable = {
        n: d["editable_project_location"]
        for n, d in pip.items()
        if "editable_project_location" in d
    }
    assert editable == {n: d["editable_project"] for n, d in ours.items() if d["editable"]}
    assert set(editable) == {"legacy-pkg", "gone-editable"}


def test_dependency_problems_match_pip_check(
    planted: dict[str, Path], env_with_extra: dict[str, str], report: dict[str, Any]
) -> None:
    pip = run(
        [planted["python"], "-m", "pip", "check"],
        env=env_with_extra,
        check=False,
        cwd=planted["root"],
    )
    expected = [ln for ln in pip.stdout.splitlines() if ln.strip()]
    ours = [
        from_dict(Report, report).dependency_problems[i].pip_line()
        for i in range(len(report["dependency_problems"]))
    ]
    assert sorted(ours) == sorted(expected)
    assert any("beta>=2.0" in line for line in ours) and any("gamma" in line for line in ours)


def test_pip_cache_dir_matches_pip(planted: dict[str, Path], tmp_path: Path) -> None:
    env = clean_env(PIP_CACHE_DIR=str(tmp_path / "cache"))
    pip = run([planted["python"], "-m", "pip", "cache", "dir"], env=env)
    data = report_json(planted["python"], env, tmp_path)
    assert data["pip_cache"]["directory"] == pip.stdout.strip()


def test_findings_for_planted_problems(report: dict[str, Any], planted: dict[str, Path]) -> None:
    codes = {f["code"] for f in report["findings"]}
    assert {
        "dependency-conflict",
        "dependency-missing",
        "distribution-duplicate",
        "distribution-metadata-broken",
        "editable-project-missing",
        "pth-executes-code",
        "pth-missing-path",
    } <= codes
    duplicate = next(f for f in report["findings"] if f["code"] == "distribution-duplicate")
    assert f"`import dup_proj` loads {planted['extra'] / 'dup_proj.py'}" in duplicate["message"]
    broken = next(f for f in report["findings"] if f["code"] == "distribution-metadata-broken")
    assert broken["evidence"] == [str(planted["site"] / "broken-9.9.dist-info")]
    for f in report["findings"]:
        assert f["severity"] in ("error", "warning", "info") and f["message"]


def test_locations_and_editables(report: dict[str, Any], planted: dict[str, Path]) -> None:
    by_name = {(d["canonical_name"], d["version"]): d for d in report["distributions"]}
    assert by_name[("beta", "1.0")]["location_class"] == "venv-site-packages"
    assert by_name[("beta", "1.0")]["installer"] == "pip"
    assert by_name[("dup-proj", "1.0")]["location_class"] == "pythonpath"
    assert by_name[("dup-proj", "2.0")]["visible"] is False
    legacy = by_name[("legacy-pkg", "0.3")]
    assert (legacy["editable"], legacy["editable_via"]) == (True, "egg-link")
    assert legacy["editable_project"] == str(planted["legacy"])
    assert by_name[("alpha", "1.0")]["top_level"] == ["alpha"]
    classes = {e["path"]: e["location"] for e in report["sys_path"]}
    assert classes[str(planted["extra"])] == "pythonpath"
    assert classes[str(planted["legacy"])] == "pth"
    assert classes[""] == "script-dir"
    assert classes[str(planted["site"])] == "venv-site-packages"
    pth_entry = next(e for e in report["sys_path"] if e["path"] == str(planted["legacy"]))
    assert pth_entry["pth_file"] == str(planted["site"] / "easy-install.pth")
    assert report["selection"]["reason"] == "--python"
    assert report["interpreter"]["is_virtual_environment"] is True
    assert report["interpreter"]["kind"] == "venv"


def test_json_is_deterministic_and_round_trips(
    planted: dict[str, Path], env_with_extra: dict[str, str], report: dict[str, Any]
) -> None:
    again = report_json(planted["python"], env_with_extra, planted["root"])
    assert again == report
    rebuilt = from_dict(Report, report)
    from pyenvdoctor.model import to_dict

    assert to_dict(rebuilt) == report


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_renders(
    fmt: OutputFormat, planted: dict[str, Path], env_with_extra: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / f"report.{fmt.value}"
    proc = cli(
        "report",
        "--python",
        planted["python"],
        "--format",
        fmt.value,
        "--output",
        out,
        env=env_with_extra,
        cwd=tmp_path,
    )
    assert proc.stdout == "" and proc.stderr == ""
    text = out.read_text(encoding="utf-8")
    assert "editable-project-missing" in text
    assert str(planted["python"]) in text


def test_active_virtual_env_is_the_default_target(planted: dict[str, Path], tmp_path: Path) -> None:
    venv = planted["python"].parent.parent
    env = clean_env(VIRTUAL_ENV=str(venv))
    data = json.loads(cli("report", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert data["selection"]["reason"] == "VIRTUAL_ENV"
    assert data["interpreter"]["prefix"] == str(venv)


def test_system_site_packages_are_base(tmp_path: Path) -> None:
    py = make_venv(tmp_path / "venv", sys.executable, "--system-site-packages", "--without-pip")
    data = report_json(py, clean_env(), tmp_path)
    base_purelib = run(
        [
            data["interpreter"]["base_executable_home"] + "/python3",
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ]
    ).stdout.strip()
    classes = {e["path"]: e["location"] for e in data["sys_path"]}
    assert classes[base_purelib] == "base-site-packages"
    assert classes[str(site_packages(py))] == "venv-site-packages"
    assert data["interpreter"]["include_system_site_packages"] is True
    # pip comes from the base: visible, found in the base site-packages.
    pip = next(d for d in data["distributions"] if d["canonical_name"] == "pip")
    assert (pip["location_class"], data["pip_version"]) == ("base-site-packages", pip["version"])


def test_findings_carry_counts_bytes_and_subjects_as_fields(tmp_path: Path) -> None:
    """Issue 17: numbers as integer fields, not only inside titles; the subject a tool (and
    ``diff``) matches on. Checked against the report's own facts, which other tests check
    against pip and CPython."""
    work = tmp_path / "work"
    (work / "__pycache__").mkdir(parents=True)
    tag = sys.implementation.cache_tag
    for name in ("gone", "lost"):  # orphaned: no source
        (work / "__pycache__" / f"{name}.{tag}.pyc").write_bytes(b"\0" * 100)
    report = report_json(sys.executable, clean_env(), work)
    orphaned = next(f for f in report["findings"] if f["code"] == "bytecode-orphaned")
    groups = [g for g in report["bytecode"]["groups"] if g["category"] == "orphaned"]
    assert orphaned["count"] == sum(g["files"] for g in groups) >= 2
    assert orphaned["bytes"] == sum(g["bytes"] for g in groups) >= 200
    assert f"{orphaned['count']} files" in orphaned["title"]
    for f in report["findings"]:
        if f["code"] == "pth-executes-code":
            assert f["subject"] == f["evidence"][0] and f["subject"].endswith(".pth")
            assert f["count"] == len(f["evidence"]) - 1  # one evidence line per import line


def test_single_file_egg_info_is_read_as_pip_reads_it(tmp_path: Path) -> None:
    """distutils' install_egg_info writes NAME-VERSION.egg-info as one PKG-INFO file (Debian
    still ships some, e.g. python3-cairo). importlib_metadata reads the file itself
    (``read_text("")``), pip lists it; before, the report called it unreadable metadata."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "single_file-2.5.egg-info").write_text(
        "Metadata-Version: 1.1\nName: single-file\nVersion: 2.5\nRequires-Dist: nothing-here\n"
    )
    (lib / "Odd.Name-0.3.egg-info").write_text(
        "Metadata-Version: 1.1\nName: Odd.Name\nVersion: 0.3\n"
    )
    (lib / "single_file.py").write_text("X = 1\n")
    py = make_venv(tmp_path / "venv")
    env = clean_env(PYTHONPATH=str(lib))
    listed = json.loads(
        run([py, "-m", "pip", "list", "--format", "json"], env=env, cwd=tmp_path).stdout
    )
    pip_says = {
        (d["name"], d["version"]) for d in listed if d["name"] in ("single-file", "Odd.Name")
    }
    assert pip_says == {("single-file", "2.5"), ("Odd.Name", "0.3")}
    report = report_json(py, env, tmp_path)
    ours = {(d["name"], d["version"]) for d in report["distributions"] if d["location"] == str(lib)}
    assert ours == pip_says
    assert not [f for f in report["findings"] if f["code"] == "distribution-metadata-broken"]
