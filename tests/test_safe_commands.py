"""Issue 14, "commands that can be pasted": the commands of ``distribution-duplicate`` and
``distribution-metadata-broken`` run on real environments (the finding goes, the user's code
still imports), and none is suggested where it would remove the user's editable install or a
file dpkg owns (``dpkg -S`` and pip's own answers are the oracles)."""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    clean_env,
    install_flat_editable,
    make_venv,
    make_wheel,
    pip_install,
    report_json,
    run,
    site_packages,
)
from pyenvdoctor.checks.distributions import distribution_findings, system_owned
from pyenvdoctor.collect.distributions import BrokenDistribution

pytestmark = pytest.mark.slow

DEBIAN_SITE = Path("/usr/lib/python3/dist-packages")


def argv(command: str) -> list[str | Path]:
    """A suggested command as the shell splits it."""
    return list[str | Path](shlex.split(command))


def by_code(data: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [f for f in data["findings"] if f["code"] == code]


def behind_pth(venv_python: Path, wheel: Path, name: str) -> Path:
    """Install ``wheel`` with ``pip install --target`` into a directory that a ``.pth`` file in
    site-packages appends to sys.path (after site-packages: site.py ``addsitedir``)."""
    extra = venv_python.parent.parent / "extra"
    pip_install(venv_python, "--target", extra, wheel)
    (site_packages(venv_python) / f"{name}-extra.pth").write_text(f"{extra}\n")
    return extra


def count_metadata(venv_python: Path, name: str) -> int:
    out = run(
        [
            venv_python,
            "-c",
            "import importlib.metadata as m, sys; "
            f"print(sum(d.metadata['Name'] == {name!r} for d in m.distributions()))",
        ]
    )
    return int(out.stdout)


def test_duplicate_uninstall_removes_the_first_copy_only(tmp_path: Path) -> None:
    venv_python = make_venv(tmp_path / "venv")
    pip_install(venv_python, make_wheel(tmp_path, "dupe", "2.0"))
    extra = behind_pth(venv_python, make_wheel(tmp_path, "dupe", "1.0"), "dupe")
    assert count_metadata(venv_python, "dupe") == 2
    (finding,) = by_code(report_json(venv_python, None, tmp_path), "distribution-duplicate")
    assert finding["severity"] == "warning"
    (command,) = finding["commands"]
    assert command == f"{shlex.quote(str(venv_python))} -m pip uninstall -y dupe"

    run(argv(command), cwd=tmp_path)
    assert count_metadata(venv_python, "dupe") == 1
    assert by_code(report_json(venv_python, None, tmp_path), "distribution-duplicate") == []
    out = run([venv_python, "-c", "import dupe; print(dupe.__file__, dupe.VERSION)"])
    assert out.stdout == f"{extra / 'dupe.py'} 1.0\n"  # the other copy still imports


def test_duplicate_never_uninstalls_the_editable_install(tmp_path: Path) -> None:
    venv_python = make_venv(tmp_path / "venv")
    project = tmp_path / "proj"
    try:
        install_flat_editable(venv_python, project, "edpkg")
    except AssertionError as exc:
        pytest.skip(f"setuptools for the editable build not available: {str(exc)[-200:]}")
    behind_pth(venv_python, make_wheel(tmp_path, "edpkg", "0.9"), "edpkg")
    # pip's oracle: the `edpkg` that `pip uninstall edpkg` acts on is the editable install.
    show = run([venv_python, "-m", "pip", "show", "edpkg"]).stdout
    assert f"Editable project location: {project}" in show
    (finding,) = by_code(report_json(venv_python, None, tmp_path), "distribution-duplicate")
    assert finding["commands"] == []
    assert "editable install" in finding["message"]


def test_duplicate_over_a_dpkg_copy_suggests_no_uninstall(tmp_path: Path) -> None:
    """Debian's Python with a user-site copy of a project dpkg also ships: pip refuses to
    uninstall (PEP 668), and a second run would have reached dpkg's copy."""
    debian = Path("/usr/bin/python3")
    metadata = next(DEBIAN_SITE.glob("distro-*.dist-info"), None) if DEBIAN_SITE.is_dir() else None
    if not debian.is_file() or metadata is None or shutil.which("dpkg") is None:
        pytest.skip("no Debian python3 with python3-distro")
    assert run(["dpkg", "-S", metadata]).stdout.startswith("python3-distro:")
    env = clean_env(HOME=str(tmp_path / "home"))
    wheel = make_wheel(tmp_path, "distro", "99.0")
    run(
        [
            debian,
            "-m",
            "pip",
            "install",
            "-q",
            "--user",
            "--no-index",
            "--no-deps",
            "--break-system-packages",
            wheel,
        ],
        env=env,
    )
    data = report_json(debian, env, tmp_path)
    (finding,) = by_code(data, "distribution-duplicate")
    assert finding["commands"] == []
    assert str(metadata) in finding["evidence"]
    refused = run([debian, "-m", "pip", "uninstall", "-y", "distro"], env=env, check=False)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr
    assert metadata.is_dir()


def test_broken_metadata_rm_only_outside_dpkg(tmp_path: Path) -> None:
    venv_python = make_venv(tmp_path / "venv")
    broken = site_packages(venv_python) / "gone-1.0.dist-info"
    broken.mkdir()
    (broken / "RECORD").write_text("")  # no METADATA: pip skips it
    (finding,) = by_code(report_json(venv_python, None, tmp_path), "distribution-metadata-broken")
    (command,) = finding["commands"]
    assert command == f"rm -r -- {shlex.quote(str(broken))}"
    run(argv(command))
    assert by_code(report_json(venv_python, None, tmp_path), "distribution-metadata-broken") == []
    run([venv_python, "-m", "pip", "list"])

    # The same finding for metadata in dpkg's directory suggests no rm.
    if not DEBIAN_SITE.is_dir() or shutil.which("dpkg") is None:
        pytest.skip("no Debian dist-packages")
    owned = next(DEBIAN_SITE.glob("*.egg-info"))
    assert run(["dpkg", "-S", owned]).stdout.strip().endswith(f": {owned}")
    assert system_owned(str(owned))
    (on_debian,) = distribution_findings(
        [],
        [BrokenDistribution(metadata_path=str(owned), reason="no Name")],
        [],
        python="/usr/bin/python3",
    )
    assert on_debian.commands == ()
    assert "dpkg -S" in on_debian.message
    assert not system_owned(os.path.join("/usr/local/lib/python3.11/dist-packages", "x"))
