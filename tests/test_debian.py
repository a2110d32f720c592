"""Debian: dpkg's database read without python-apt, compared with dpkg-query on this machine
(skipped without dpkg); a fake database in tmp_path for shadows, conflicts, and the journal."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEBIAN_PYTHON, clean_env, report_json, run
from pyenvdoctor.checks.caches import debian_findings, externally_managed_finding
from pyenvdoctor.collect.debian import (
    DEBIAN_DIST_PACKAGES,
    DpkgDatabase,
    collect_debian,
    count_python3_packages,
    find_owners,
    local_shadows,
    read_externally_managed,
    read_status,
)
from pyenvdoctor.model import (
    DebianSummary,
    DependencyProblem,
    DependencyProblemKind,
    Distribution,
    EnvironmentKind,
    LocationClass,
    Report,
    from_dict,
)
from pyenvdoctor.render import OutputFormat, render
from test_render import sample_report

LOCAL = "/usr/local/lib/python3.11/dist-packages"

STATUS = """\
Package: python3-yaml
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 6.0-3+b2
Description: YAML parser and emitter for Python3
 PyYAML is a YAML parser and emitter for Python.
 .
 Status: this continuation line is not a field

Package: python3-requests
Status: install ok installed
Architecture: all
Version: 2.28.1+dfsg-1

Package: python3-cffi-backend
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 1.15.1-5

Package: python3-old
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1

Package: python3-held
Status: hold ok installed
Architecture: all
Version: 2.0-1

Package: python3-gone
Status: purge ok not-installed
Architecture: all

Package: python3.11-venv
Status: install ok installed
Architecture: amd64
Version: 3.11.2-6

Package: yq
Status: install ok installed
Architecture: all
Version: 3.1.0-3

Package: libc6
Status: install ok installed
Architecture: amd64
Multi-Arch: same
Version: 2.36-9
"""


def make_admindir(tmp_path: Path) -> Path:
    admin = tmp_path / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text(STATUS)
    lists = {
        "python3-yaml.list": [
            "/.",
            "/usr",
            DEBIAN_DIST_PACKAGES,
            f"{DEBIAN_DIST_PACKAGES}/PyYAML-6.0.dist-info",
            f"{DEBIAN_DIST_PACKAGES}/yaml/__init__.py",
        ],
        "python3-requests.list": [f"{DEBIAN_DIST_PACKAGES}/requests-2.28.1.egg-info"],
        "python3-cffi-backend:amd64.list": [f"{DEBIAN_DIST_PACKAGES}/cffi-1.15.1.egg-info"],
        "python3-held.list": [],
        "python3.11-venv.list": ["/usr/lib/python3.11/ensurepip"],
        "yq.list": [f"{DEBIAN_DIST_PACKAGES}/yq-3.1.0.egg-info"],
        "libc6:amd64.list": ["/lib/x86_64-linux-gnu/libc.so.6"],
    }
    for name, lines in lists.items():
        (admin / "info" / name).write_text("".join(line + "\n" for line in lines))
    return admin


def dist(
    name: str,
    version: str,
    where: LocationClass,
    *,
    visible: bool = True,
    metadata: str | None = None,
) -> Distribution:
    location = DEBIAN_DIST_PACKAGES if where is LocationClass.DEBIAN_DIST_PACKAGES else LOCAL
    return Distribution(
        name=name,
        canonical_name=name.lower(),
        version=version,
        location=location,
        location_class=where,
        metadata_path=metadata or f"{location}/{name}-{version}.dist-info",
        installer="debian" if where is LocationClass.DEBIAN_DIST_PACKAGES else "pip",
        requested=None,
        editable=False,
        editable_project=None,
        editable_via=None,
        top_level=(name.lower(),),
        visible=visible,
    )


DEB = LocationClass.DEBIAN_DIST_PACKAGES
LOC = LocationClass.LOCAL_DIST_PACKAGES


def test_status_journal_count_and_owners(tmp_path: Path) -> None:
    admin = make_admindir(tmp_path)
    (admin / "updates" / "0001").write_text(
        "Package: python3-requests\nStatus: install ok installed\nArchitecture: all\n"
        "Version: 2.31.0-1\n"
    )
    (admin / "updates" / "tmp.i").write_text("Package: ignored\nStatus: install ok installed\n")
    packages = read_status(str(admin))
    assert packages is not None
    by_name = {p.name: p for p in packages}
    assert by_name["python3-requests"].version == "2.31.0-1"  # the journal wins
    assert "ignored" not in by_name
    # dpkg -l 'python3-*' with ii: yaml, requests, cffi-backend (not held, config-files, purged)
    assert count_python3_packages(packages) == 3
    assert by_name["python3-held"].installed and not by_name["python3-held"].listed_ii

    database = DpkgDatabase(str(admin), packages)
    distributions = [
        dist("PyYAML", "6.0", DEB),
        dist(
            "requests", "2.28.1", DEB, metadata=f"{DEBIAN_DIST_PACKAGES}/requests-2.28.1.egg-info"
        ),
        dist("cffi", "1.15.1", DEB, metadata=f"{DEBIAN_DIST_PACKAGES}/cffi-1.15.1.egg-info"),
        dist("yq", "3.1.0", DEB, metadata=f"{DEBIAN_DIST_PACKAGES}/yq-3.1.0.egg-info"),
        dist("stray", "1.0", DEB),
        dist("local-only", "1.0", LOC),
    ]
    owners = {o.distribution: o for o in find_owners(distributions, database)}
    assert owners["PyYAML"].package == "python3-yaml"
    assert owners["PyYAML"].package_version == "6.0-3+b2"
    assert owners["cffi"].package == "python3-cffi-backend"  # Multi-Arch: same -> :amd64.list
    assert owners["yq"].package == "yq"  # found after the python3* lists
    assert owners["stray"].package is None
    assert "local-only" not in owners
    assert database.lists_read == 7  # every installed package's list, once: 'stray' has no owner


def test_owners_stop_reading_once_found(tmp_path: Path) -> None:
    admin = make_admindir(tmp_path)
    packages = read_status(str(admin))
    assert packages is not None
    database = DpkgDatabase(str(admin), packages)
    assert find_owners([dist("PyYAML", "6.0", DEB)], database)[0].package == "python3-yaml"
    assert database.lists_read < 7
    assert read_status(str(tmp_path / "no-dpkg")) is None


def test_local_shadows_conflicts_and_unowned() -> None:
    distributions = [
        dist("requests", "2.31.0", LOC, visible=True),
        dist("requests", "2.28.1", DEB, visible=False),
        dist("urllib3", "1.26.12", DEB),
        dist("six", "1.16.0", LOC, visible=True),
        dist("six", "1.16.0", DEB, visible=False),
        dist("stray", "1.0", DEB),
    ]
    owners = find_owners(distributions, DpkgDatabase("/nonexistent", []))
    shadows = local_shadows(distributions, owners)
    assert [(s.canonical_name, s.winner) for s in shadows] == [
        ("requests", "local"),
        ("six", "local"),
    ]
    assert shadows[0].debian_metadata_path == f"{DEBIAN_DIST_PACKAGES}/requests-2.28.1.dist-info"
    summary = DebianSummary(
        admindir="/var/lib/dpkg",
        python3_packages=3,
        owners=tuple(
            dataclasses.replace(
                o, package=None if o.distribution == "stray" else f"python3-{o.distribution}"
            )
            for o in owners
        ),
        local_shadows=shadows,
        venv_package="python3.11-venv",
        venv_package_installed=True,
        pipx_installed=False,
    )
    problems = [
        DependencyProblem(
            kind=DependencyProblemKind.CONFLICT,
            distribution="requests",
            version="2.31.0",
            dependency="urllib3",
            requirement="urllib3<3,>=1.21.1; extra == 'x'",
            installed_version="1.26.12",
        )
    ]
    findings = {f.code: f for f in debian_findings(summary, distributions, problems)}
    shadow = findings["debian-local-shadows"]
    assert shadow.severity.value == "warning"
    assert (
        "requests: pip 2.31.0" in shadow.evidence[0]
        and "import gets pip's 2.31.0" in shadow.evidence[0]
    )
    # No command: an uninstall from /usr/local needs root on this very machine; no test runs it.
    assert shadow.commands == ()
    conflict = findings["debian-local-conflict"]
    assert conflict.commands == () and "requests" in conflict.message
    assert conflict.evidence == (problems[0].pip_line(),)
    unowned = findings["debian-dist-packages-unowned"]
    assert unowned.evidence == (f"stray 1.0: {DEBIAN_DIST_PACKAGES}/stray-1.0.dist-info",)
    assert debian_findings(None, distributions, problems) == []


def test_externally_managed_advice(tmp_path: Path) -> None:
    marker = tmp_path / "EXTERNALLY-MANAGED"
    marker.write_text("[externally-managed]\nError=Use a venv.\n Or pipx.\n")
    assert read_externally_managed(str(marker)) == "Use a venv.\nOr pipx."
    assert read_externally_managed(str(tmp_path / "missing")) is None
    interp = dataclasses.replace(
        sample_report().interpreter,
        executable="/usr/bin/python3",
        is_virtual_environment=False,
        kind=EnvironmentKind.DEBIAN_SYSTEM,
        externally_managed=str(marker),
    )
    summary = DebianSummary(
        admindir="/var/lib/dpkg",
        python3_packages=1,
        owners=(),
        local_shadows=(),
        venv_package="python3.11-venv",
        venv_package_installed=False,
        pipx_installed=False,
    )
    finding = externally_managed_finding(
        interp, summary, marker_error="Use a venv.\nOr pipx.", project_root="/p"
    )
    assert finding is not None and finding.code == "externally-managed"
    assert finding.commands == (
        "/usr/bin/python3 -m venv /p/.venv && /p/.venv/bin/python -m pip install -e /p",
    )
    assert "`sudo apt install python3.11-venv`" in finding.message
    assert "`sudo apt install pipx`" in finding.message
    assert "--break-system-packages" in finding.message and "Do not" in finding.message
    assert finding.evidence == (str(marker), "Use a venv.", "Or pipx.")
    ready = dataclasses.replace(summary, venv_package_installed=True, pipx_installed=True)
    plain = externally_managed_finding(interp, ready)
    assert plain is not None and plain.commands == ("/usr/bin/python3 -m venv .venv",)
    assert "python3.11-venv" not in plain.message and "`sudo apt install pipx`" not in plain.message
    venv = dataclasses.replace(interp, is_virtual_environment=True)
    assert externally_managed_finding(venv, summary) is None


def test_not_debian_when_the_target_does_not_see_debian_directories(tmp_path: Path) -> None:
    report = sample_report()
    assert (
        collect_debian(
            interpreter=report.interpreter,
            distributions=report.distributions,
            environ={"DPKG_ADMINDIR": str(make_admindir(tmp_path))},
        )
        is None
    )


needs_dpkg = pytest.mark.skipif(
    shutil.which("dpkg-query") is None or not os.path.isfile("/var/lib/dpkg/status"),
    reason="no dpkg on this machine",
)


@needs_dpkg
def test_python3_count_matches_dpkg_query() -> None:
    proc = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}\n", "python3-*"],
        capture_output=True,
        text=True,
        check=False,
    )
    listed_ii = [line for line in proc.stdout.splitlines() if line.startswith("ii")]
    packages = read_status("/var/lib/dpkg")
    assert packages is not None
    assert count_python3_packages(packages) == len(listed_ii)


@needs_dpkg
@pytest.mark.slow
def test_owners_match_dpkg_search_and_report_shows_them(tmp_path: Path) -> None:
    if not DEBIAN_PYTHON.exists() or not os.path.isdir(DEBIAN_DIST_PACKAGES):
        pytest.skip("no Debian python3 with dist-packages")
    data = report_json(DEBIAN_PYTHON, None, tmp_path)
    report = from_dict(Report, data)
    assert report.debian is not None
    owners = report.debian.owners
    assert owners, "Debian's python3 sees distributions in dist-packages"
    for owner in owners:
        proc = subprocess.run(
            ["dpkg-query", "-S", owner.metadata_path], capture_output=True, text=True, check=False
        )
        expected = proc.stdout.split(":")[0].split(",")[0].strip() if proc.returncode == 0 else None
        # dpkg-query -S prints "package:arch: path" for Multi-Arch: same packages
        assert owner.package == expected, owner
    packages = read_status("/var/lib/dpkg")
    assert packages is not None
    assert report.debian.python3_packages == count_python3_packages(packages)
    markdown = render(report, OutputFormat.MARKDOWN)
    assert "<summary>Debian: dist-packages owners" in markdown
    assert "Debian:" in render(report, OutputFormat.TEXT, full=True)


@pytest.mark.skipif(not DEBIAN_PYTHON.exists(), reason="no Debian python3")
def test_externally_managed_command_runs_and_installs_the_project(tmp_path: Path) -> None:
    """The suggested command, run as printed: the project is importable from the new venv."""
    project = tmp_path / "proj"
    (project / "pemproj").mkdir(parents=True)
    (project / "pemproj" / "__init__.py").write_text("VALUE = 'from the checkout'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "pemproj"\nversion = "1.0"\n'
    )
    interp = dataclasses.replace(
        sample_report().interpreter,
        executable=str(DEBIAN_PYTHON),
        is_virtual_environment=False,
        kind=EnvironmentKind.DEBIAN_SYSTEM,
        externally_managed="/usr/lib/python3.11/EXTERNALLY-MANAGED",
    )
    finding = externally_managed_finding(interp, None, project_root=str(project))
    assert finding is not None
    (command,) = finding.commands
    run(["sh", "-c", command], env=clean_env(), cwd=tmp_path)
    out = run(
        [project / ".venv" / "bin" / "python", "-c", "import pemproj; print(pemproj.VALUE)"],
        env=clean_env(),
        cwd=tmp_path,
    )
    assert out.stdout.strip() == "from the checkout"
