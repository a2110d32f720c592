"""False alarms of issue 14, rebuilt on real environments: each situation is healthy, so its
report must hold no error or warning of the class fixed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_venv, report_json, run

pytestmark = pytest.mark.slow


def _install_charset_normalizer(venv_python: Path) -> None:
    """pip-install charset-normalizer 3.4.1's mypyc wheel into the venv, or skip the test."""
    try:
        run(
            [
                venv_python,
                "-m",
                "pip",
                "install",
                "-q",
                "--only-binary",
                ":all:",
                "charset-normalizer==3.4.1",
            ]
        )
    except (AssertionError, subprocess.CalledProcessError) as exc:  # no network and no local wheel
        pytest.skip(f"charset-normalizer wheel not available: {str(exc)[:200]}")


def test_mypyc_wheel_shipping_its_source_is_no_warning(tmp_path: Path) -> None:
    # charset-normalizer's wheels are built with mypyc: md.cpython-*.so beside md.py, both in
    # its RECORD. Import loads the extension, as the wheel intends.
    venv_python = make_venv(tmp_path / "venv")
    _install_charset_normalizer(venv_python)
    out = run([venv_python, "-c", "import charset_normalizer.md as m; print(m.__file__)"])
    assert out.stdout.strip().endswith(".so"), out.stdout  # the extension is what runs
    data = report_json(venv_python, None, tmp_path)
    found = [f for f in data["findings"] if f["code"] == "extension-shadows-source"]
    assert len(found) == 1  # still said, as information
    assert found[0]["severity"] == "info"
    assert "charset_normalizer" in found[0]["message"]
    assert not [f for f in data["findings"] if f["severity"] in ("error", "warning")], [
        (f["code"], f["title"]) for f in data["findings"] if f["severity"] != "info"
    ]

    # An extension no RECORD lists beside a source (an in-place build) is still a warning.
    site = Path(
        run([venv_python, "-c", "import charset_normalizer as c; print(c.__file__)"]).stdout.strip()
    ).parent
    ext = next(site.glob("md.cpython-*.so"))
    inplace = site / ext.name.replace("md.", "cd.", 1)
    assert (site / "cd.py").is_file()
    shutil.copy(ext, inplace)
    data = report_json(venv_python, None, tmp_path)
    (finding,) = [f for f in data["findings"] if f["code"] == "extension-shadows-source"]
    assert finding["severity"] == "warning"
    assert [e.split(" (")[0] for e in finding["evidence"]] == [str(inplace)]


def test_mypyc_wheel_in_a_venv_reached_through_a_symlink_is_no_warning(tmp_path: Path) -> None:
    """The same wheel in a venv made through a symlinked directory (``lnk -> real``): sys.path
    names the site directory through ``lnk``, the scan reports real paths, and a RECORD's rows
    are relative to either (PEP 376), so the shipped extensions are still information. An
    in-place copy no RECORD lists is still a warning, under its real path."""
    (tmp_path / "real").mkdir()
    (tmp_path / "lnk").symlink_to("real")
    (tmp_path / "empty").mkdir()
    venv_python = make_venv(tmp_path / "lnk" / "venv")
    _install_charset_normalizer(venv_python)
    site = Path(
        run([venv_python, "-c", "import charset_normalizer as c; print(c.__file__)"]).stdout.strip()
    ).parent
    assert "lnk" in site.parts  # the situation: sys.path in the symlink's spelling
    data = report_json(venv_python, None, tmp_path / "empty")
    (found,) = [f for f in data["findings"] if f["code"] == "extension-shadows-source"]
    assert found["severity"] == "info", found["evidence"]
    assert "charset_normalizer" in found["message"]
    assert bad(data) == []

    ext = next(site.glob("md.cpython-*.so"))
    inplace = site / ext.name.replace("md.", "cd.", 1)
    shutil.copy(ext, inplace)
    data = report_json(venv_python, None, tmp_path / "empty")
    (finding,) = [f for f in data["findings"] if f["code"] == "extension-shadows-source"]
    assert finding["severity"] == "warning"
    real = tmp_path.resolve() / "real" / inplace.relative_to(tmp_path / "lnk")
    assert [e.split(" (")[0] for e in finding["evidence"]] == [str(real)]


def bad(data: dict[str, object]) -> list[tuple[str, str]]:
    """``(code, title)`` of the error and warning findings of a JSON report."""
    findings = data["findings"]
    assert isinstance(findings, list)
    return [(f["code"], f["title"]) for f in findings if f["severity"] in ("error", "warning")]


def test_editable_src_layout_checkout_is_one_install(tmp_path: Path) -> None:
    # setuptools' egg_info leaves src/srcpkg.egg-info; the editable .pth puts src/ on sys.path,
    # so importlib.metadata sees the project's metadata twice, for one install.
    venv_python = make_venv(tmp_path / "venv")
    try:  # bdist_wheel is setuptools' own from 70.1 (no `wheel` needed)
        run([venv_python, "-m", "pip", "install", "-q", "setuptools>=70.1"])
    except AssertionError as exc:
        pytest.skip(f"setuptools>=70.1 not available: {str(exc)[:200]}")
    project = tmp_path / "srcpkg"
    (project / "src" / "srcpkg").mkdir(parents=True)
    (project / "src" / "srcpkg" / "__init__.py").write_text("VALUE = 'from the checkout'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "srcpkg"\nversion = "1.0"\n'
    )
    run([venv_python, "-m", "pip", "install", "-q", "--no-build-isolation", "-e", project])
    # What setuptools' egg_info writes into the checkout (legacy `setup.py develop`, tox's
    # sdist step, or any `setup.py` command run there).
    run([venv_python, "-c", "import setuptools; setuptools.setup()", "egg_info"], cwd=project)
    assert (project / "src" / "srcpkg.egg-info").is_dir()
    dists = run(
        [
            venv_python,
            "-c",
            "import importlib.metadata as m; "
            "print(sum(d.metadata['Name'] == 'srcpkg' for d in m.distributions()))",
        ],
        cwd=project / "src",
    )
    assert int(dists.stdout) >= 2  # the situation: the metadata seen twice, one install
    data = report_json(venv_python, None, project / "src")
    assert [c for c, _ in bad(data) if c == "distribution-duplicate"] == []
    data = report_json(venv_python, None, project)
    assert [c for c, _ in bad(data) if c == "distribution-duplicate"] == []
    value = run([venv_python, "-c", "import srcpkg; print(srcpkg.VALUE)"], cwd=project)
    assert value.stdout == "from the checkout\n"


def test_system_site_packages_venv_layers_pip_over_the_base(tmp_path: Path) -> None:
    base = Path(sys.base_prefix) / "bin" / "python3"
    venv_python = make_venv(tmp_path / "venv", base, "--system-site-packages")
    out = run(
        [
            venv_python,
            "-c",
            "import importlib.metadata as m; "
            "print(sum(d.metadata['Name'] == 'pip' for d in m.distributions()))",
        ]
    )
    assert int(out.stdout) >= 2  # the venv's pip and the base's
    data = report_json(venv_python, None, tmp_path)
    assert [c for c, _ in bad(data) if c == "distribution-duplicate"] == []


def test_debian_python_has_no_error_or_warning(tmp_path: Path) -> None:
    debian = Path("/usr/bin/python3")
    if not Path("/usr/lib/python3/dist-packages").is_dir() or not debian.is_file():
        pytest.skip("no Debian system Python")
    check = run([debian, "-m", "pip", "check"], check=False)
    data = report_json(debian, None, tmp_path)
    assert bad(data) == []
    debian_missing = [f for f in data["findings"] if f["code"] == "dependency-missing-debian"]
    if "which is not installed" in check.stdout:  # pip check is the oracle: the same lines
        (finding,) = debian_missing
        assert set(finding["evidence"]) <= set(check.stdout.splitlines())
        assert finding["commands"] == []  # never `pip install` into dpkg's Python (PEP 668)
    else:
        assert debian_missing == []
