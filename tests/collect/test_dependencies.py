"""``pyenvdoctor.collect.dependencies`` against the real ``pip check`` of real virtual environments.

The venv tests build tiny wheels by hand, install them with ``pip install --no-deps --no-index``
into a ``python -m venv`` of each interpreter found, write two broken ``.dist-info`` directories
by hand (pip refuses to install them), and compare our lines with ``pip check``'s stdout.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import importlib_metadata
import pytest
from packaging.markers import default_environment
from packaging.version import Version

from conftest import make_wheel
from pyenvdoctor.collect.dependencies import (
    InstalledDistribution,
    check_dependencies,
    check_supported,
    read_installed,
    target_supported_tags,
)

#: First pip with the "is not supported on this platform" check (pypa/pip#11088).
UNSUPPORTED_SINCE = Version("24.2")
INTERPRETERS = {
    "host": sys.executable,
    "3.13.0": "/root/.pyenv/versions/3.13.0/bin/python",  # pip 24.2
}

#: Run in the target: what pip itself uses there (its vendored packaging and tags).
FACTS = """
import json, sys, sysconfig, pip
from pip._vendor.packaging.markers import default_environment
from pip._internal.utils.compatibility_tags import get_supported
print(json.dumps({
    "marker_environment": default_environment(),
    "implementation": sys.implementation.name,
    "version_info": list(sys.version_info[:2]),
    "soabi": sysconfig.get_config_var("SOABI"),
    "ext_suffix": sysconfig.get_config_var("EXT_SUFFIX"),
    "platform": sysconfig.get_platform(),
    "purelib": sysconfig.get_paths()["purelib"],
    "pip_version": pip.__version__,
    "pip_supported": [str(t) for t in get_supported()],
}))
"""

#: (name, version, Requires-Dist lines, WHEEL Tag lines)
WHEELS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "alpha",
        "1.0",
        (
            "beta>=2.0",
            'gamma; python_version < "3"',
            'delta; extra == "x"',
            'epsilon; sys_platform == "linux"',
            "zeta>=1.0",
            "Beta (<3,>=2.0)",
            "Missing_Thing.Two>=1",
        ),
        ("py3-none-any",),
    ),
    ("beta", "1.0", (), ("py3-none-any",)),
    ("zeta", "2.0rc1", (), ("py3-none-any",)),
    ("Upper_Case", "2.0", ("alpha<1", "zeta<2"), ("py3-none-any",)),
    ("dotted", "1.0", (), ("py2.py3-none-any",)),
    ("old", "1.0", (), ("cp27-cp27mu-manylinux1_x86_64",)),
    ("Win_Thing", "1.0", (), ("py3-none-win_amd64",)),
    ("notags", "1.0", (), ()),
    ("needsbad", "1.0", ("badreq>=1",), ("py3-none-any",)),
)


@dataclass(frozen=True)
class Target:
    facts: dict[str, Any]
    dists: tuple[InstalledDistribution, ...]
    stdout: list[str]
    stderr: str

    @property
    def pip_reports_unsupported(self) -> bool:
        return Version(self.facts["pip_version"]) >= UNSUPPORTED_SINCE

    def supported_tags(self) -> frozenset[str]:
        return target_supported_tags(
            implementation=self.facts["implementation"],
            version_info=(self.facts["version_info"][0], self.facts["version_info"][1]),
            soabi=self.facts["soabi"],
            ext_suffix=self.facts["ext_suffix"],
            sysconfig_platform=self.facts["platform"],
        )


@pytest.fixture(scope="module", params=sorted(INTERPRETERS))
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Target:
    python = INTERPRETERS[request.param]
    if not Path(python).exists():
        pytest.skip(f"{python} is not installed")
    root = tmp_path_factory.mktemp(f"venv-{request.param}")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    venv = root / "venv"
    created = subprocess.run(
        [python, "-m", "venv", str(venv)], check=False, env=env, capture_output=True
    )
    if created.returncode:
        pytest.skip(f"python -m venv failed: {created.stderr.decode(errors='replace')}")
    venv_python = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
    work = root / "cwd"  # empty: '' on the target's sys.path must find nothing
    work.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [venv_python, *args], check=False, cwd=work, env=env, capture_output=True, text=True
        )

    wheels = [
        str(make_wheel(root, name, version, requires=requires, wheel_tags=tags, files={}))
        for name, version, requires, tags in WHEELS
    ]
    installed = run("-m", "pip", "install", "--no-deps", "--no-index", *wheels)
    assert installed.returncode == 0, installed.stderr
    facts = json.loads(run("-c", FACTS).stdout)
    site = Path(facts["purelib"])
    badreq = site / "badreq-1.0.dist-info"
    badreq.mkdir()
    (badreq / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: badreq\nVersion: 1.0\nRequires-Dist: foo >>> 1\n"
    )
    (site / "nometa-1.0.dist-info").mkdir()
    check = run("-m", "pip", "check")
    dists = importlib_metadata.distributions(path=[str(site)])
    return Target(
        facts=facts,
        dists=tuple(read_installed(d) for d in dists),
        stdout=[
            line for line in check.stdout.splitlines() if line != "No broken requirements found."
        ],
        stderr=check.stderr,
    )


@pytest.mark.slow
def test_lines_equal_pip_check(target: Target) -> None:
    found = check_dependencies(target.dists, marker_environment=target.facts["marker_environment"])
    unsupported = check_supported(target.dists, supported_tags=target.supported_tags())
    ours = [p.pip_line() for p in found.problems]
    if target.pip_reports_unsupported:
        ours += [p.pip_line() for p in unsupported]
    assert set(ours) == set(target.stdout)
    assert ours == target.stdout
    assert {p.distribution for p in unsupported} == {"old", "Win_Thing", "notags"}
    assert "alpha 1.0 requires missing-thing-two, which is not installed." in ours
    alpha = {p.dependency for p in found.problems if p.distribution == "alpha"}
    assert alpha.isdisjoint({"gamma", "delta", "zeta"})  # markers false, extra, prerelease


@pytest.mark.slow
def test_supported_tags_equal_pips(target: Target) -> None:
    assert target.supported_tags() == frozenset(target.facts["pip_supported"])


@pytest.mark.slow
def test_broken_metadata_is_reported_like_pip(target: Target) -> None:
    found = check_dependencies(target.dists, marker_environment=target.facts["marker_environment"])
    pip_errors = re.findall(
        r"Error parsing (?:dependencies of|requirements for) (\S+):", target.stderr
    )
    assert pip_errors == ["badreq"]
    assert [s.reason.split(":")[0] for s in found.skipped] == [
        "Error parsing dependencies of badreq"
    ]
    # pip >= 24.1 reads name and version from the directory name and an empty METADATA;
    # older pip skips it with a warning. Either way pip prints no line about it.
    nometa = next(d for d in target.dists if d.canonical_name == "nometa")
    assert (nometa.version, nometa.requires_dist, nometa.metadata_error) == ("1.0", (), None)
    assert not any("nometa" in line for line in target.stdout)


# --- without a venv ----------------------------------------------------------------------------


def dist(name: str, version: str, *requires: str, **kwargs: Any) -> InstalledDistribution:
    return InstalledDistribution(name=name, version=version, requires_dist=requires, **kwargs)


#: The host's marker environment; tests override keys to play a different target.
HOST_ENVIRONMENT = {key: str(value) for key, value in default_environment().items()}


def lines(dists: Sequence[InstalledDistribution], **environment: str) -> list[str]:
    env = {**HOST_ENVIRONMENT, **environment}
    return [p.pip_line() for p in check_dependencies(dists, marker_environment=env).problems]


def test_target_marker_environment_decides_not_the_hosts() -> None:
    app = dist("app", "1", 'epsilon; sys_platform == "linux"', 'eta; sys_platform == "win32"')
    assert lines([app], sys_platform="win32") == ["app 1 requires eta, which is not installed."]
    assert lines([app], sys_platform="linux") == ["app 1 requires epsilon, which is not installed."]
    old = dist("app", "1", 'gamma; python_version < "3"')
    assert lines([old], python_version="2.7") == ["app 1 requires gamma, which is not installed."]


def test_prereleases_extras_order_and_first_of_a_name() -> None:
    dists = [
        dist("App", "1.0", "zeta>=1.0", 'delta; extra == "x"', "b<1", "a>2", "a>3", "z", "c"),
        dist("zeta", "2.0rc1"),
        dist("a", "1"),
        dist("B", "1.0"),
        dist("b", "0.1"),  # shadowed by "B"
    ]
    assert lines(dists) == [
        "app 1.0 requires c, which is not installed.",
        "app 1.0 requires z, which is not installed.",
        "app 1.0 has requirement a>2, but you have a 1.",
        "app 1.0 has requirement a>3, but you have a 1.",
        "app 1.0 has requirement b<1, but you have b 1.0.",
    ]


def test_unparseable_metadata_is_skipped_not_raised() -> None:
    dists = [
        dist("needs", "1", "badreq", "badver", "nodir", "x"),
        dist("badreq", "1", "foo >>> 1"),
        dist("badver", "not a version"),
        dist("x", "1", "y; python_version ~= 'x'"),  # InvalidSpecifier/UndefinedComparison
        dist("nodir", "1", metadata_error="invalid metadata entry 'name'"),
    ]
    found = check_dependencies(dists, marker_environment=HOST_ENVIRONMENT)
    assert [s.reason.split(":")[0] for s in found.skipped] == [
        f"Error parsing dependencies of {name}" for name in ("badreq", "badver", "x", "nodir")
    ]
    assert [p.dependency for p in found.problems] == ["badreq", "badver", "nodir", "x"]


def test_read_installed_never_raises(tmp_path: Path) -> None:
    for name, text in (("undecodable", b"Name: u\xff\xfe\n"), ("noname", b"Version: 1\n")):
        info = tmp_path / f"{name}.dist-info"
        info.mkdir()
        (info / "METADATA").write_bytes(text)
    (tmp_path / "blank-2.0.dist-info").mkdir()
    (tmp_path / "blank-2.0.dist-info" / "WHEEL").write_text(
        "Wheel-Version: 1.0\n\nTag: py3-none-any\n"
    )
    read = {
        d.canonical_name: d
        for d in map(read_installed, importlib_metadata.distributions(path=[str(tmp_path)]))
    }
    assert read["undecodable"].metadata_error
    assert read["noname"].metadata_error == "invalid metadata entry 'name'"
    assert read["blank"].wheel_tags == ()  # email.parser stops at the blank line, like pip
    unsupported = check_supported(list(read.values()), supported_tags=frozenset({"py3-none-any"}))
    assert [p.distribution for p in unsupported] == ["blank"]  # no Tag read: pip flags it too


def test_check_supported() -> None:
    dists = [
        dist("Compressed", "1.0", wheel_tags=("py2.py3-none-any",)),
        dist("Empty", "01.0", wheel_tags=()),
        dist("garbage", "1", wheel_tags=("not-a-tag-at-all", "nonsense")),
        dist("egg", "1", wheel_tags=None),
        dist("wsgiref", "1", wheel_tags=()),  # pip's stdlib_pkgs
    ]
    found = check_supported(dists, supported_tags=frozenset({"py3-none-any"}))
    assert [p.pip_line() for p in found] == [
        "Empty 1.0 is not supported on this platform",
        "garbage 1 is not supported on this platform",
    ]


def foreign(
    implementation: str, version: tuple[int, int], soabi: str | None, ext: str | None, platform: str
) -> dict[str, Any]:
    assert platform != sysconfig.get_platform()
    return {
        "implementation": implementation,
        "version_info": version,
        "soabi": soabi,
        "ext_suffix": ext,
        "sysconfig_platform": platform,
    }


@pytest.mark.parametrize(
    ("facts", "present", "absent"),
    [
        (
            foreign("cpython", (3, 12), None, ".cp312-win_amd64.pyd", "win-amd64"),
            {
                "cp312-cp312-win_amd64",
                "cp312-abi3-win_amd64",
                "cp38-abi3-win_amd64",
                "py3-none-any",
            },
            {"cp312-cp312-linux_x86_64", "cp312-cp312-manylinux1_x86_64"},
        ),
        (  # free-threaded: no abi3
            foreign("cpython", (3, 13), "cpython-313t-x86_64-linux-gnu", None, "linux-foreign"),
            {"cp313-cp313t-linux_foreign", "cp313-none-linux_foreign", "py313-none-any"},
            {"cp313-abi3-linux_foreign", "cp313-cp313-linux_foreign"},
        ),
        (  # debug build: loads normal extensions too
            foreign("cpython", (3, 11), "cpython-311d-x86_64-linux-gnu", None, "linux-foreign"),
            {"cp311-cp311d-linux_foreign", "cp311-cp311-linux_foreign"},
            set(),
        ),
        (
            foreign("pypy", (3, 10), None, ".pypy310-pp73-x86_64-linux-gnu.so", "linux-foreign"),
            {"pp310-pypy310_pp73-linux_foreign", "pp310-none-linux_foreign", "py3-none-any"},
            {"cp310-abi3-linux_foreign", "cp310-cp310-linux_foreign"},
        ),
    ],
)
def test_target_supported_tags_of_a_foreign_target(
    facts: dict[str, Any], present: set[str], absent: set[str]
) -> None:
    found = target_supported_tags(**facts)
    assert present <= found
    assert not absent & found
