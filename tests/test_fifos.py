"""Issue 16: FIFOs where the report reads a file of the target (METADATA, RECORD,
``direct_url.json``, ``.egg-link``, ``pyvenv.cfg`` beside the project, ``PIP_CONFIG_FILE``) are
not read: the report finishes (a plain ``open().read()`` of a FIFO blocks forever) and says
what it could not read, with no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import clean_env, make_venv, make_wheel, pip_install, site_packages


def _fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def test_fifos_in_the_target_do_not_hang_the_report(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv")
    for name in ("alpha", "beta", "gamma"):
        pip_install(python, make_wheel(tmp_path, name, "1.0"))
    site = site_packages(python)
    _fifo(site / "alpha-1.0.dist-info" / "METADATA")
    _fifo(site / "beta-1.0.dist-info" / "RECORD")
    _fifo(site / "gamma-1.0.dist-info" / "direct_url.json")
    _fifo(site / "delta.egg-link")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'proj'\nversion = '1'\n")
    _fifo(project / "pyvenv.cfg")
    _fifo(project / "setup.py")
    _fifo(tmp_path / "pip.conf")
    env = clean_env()
    env["PIP_CONFIG_FILE"] = str(tmp_path / "pip.conf")
    proc = subprocess.run(
        [sys.executable, "-I", "-m", "pyenvdoctor", "report", "--python", python,
         "--format", "json", "--no-redact"],
        capture_output=True, text=True, env=env, cwd=project, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert '"name": "beta"' in proc.stdout and '"name": "gamma"' in proc.stdout
    assert "distribution-metadata-broken" in proc.stdout  # alpha: its METADATA is a FIFO


def test_externally_managed_marker_as_a_fifo_is_unreadable_not_a_hang(tmp_path: Path) -> None:
    """PEP 668's marker is read through pyenvdoctor.files: a FIFO returns None at once."""
    from pyenvdoctor.collect.debian import read_externally_managed

    marker = tmp_path / "EXTERNALLY-MANAGED"
    os.mkfifo(marker)
    assert read_externally_managed(str(marker)) is None
    regular = tmp_path / "regular"
    regular.write_text("[externally-managed]\nError=Use a venv.\n")
    assert read_externally_managed(str(regular)) == "Use a venv."
