"""Issue 14's stock set: healthy environments as a new user has them must report zero error
and zero warning findings. Venvs with popular wheels are built once and cached under
``~/.cache/pyenvdoctor-tests/`` keyed by interpreter and requirements (a fresh machine builds
them from PyPI or ``PIP_FIND_LINKS``; without either the test skips)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from conftest import report_json, run

pytestmark = pytest.mark.slow

PYENV = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"
BASES = sorted(
    p / "bin" / "python3"
    for p in PYENV.glob("3.*")
    if (p / "bin" / "python3").is_file()
    and p.name.split(".")[1].isdigit()
    and int(p.name.split(".")[1]) >= 8
)
#: mypyc (black, charset-normalizer), Cython/C (pyzmq, zope.interface, numpy, pandas) and
#: namespace-package (google-cloud-storage, zope) wheels.
STOCK = (
    "black",
    "charset-normalizer",
    "pyzmq",
    "zope.interface",
    "google-cloud-storage",
    "numpy",
    "pandas",
)
CACHE = Path("~/.cache/pyenvdoctor-tests").expanduser()


def bad(data: dict[str, object]) -> list[tuple[str, str, object]]:
    findings = data["findings"]
    assert isinstance(findings, list)
    return [
        (f["code"], f["title"], f["evidence"][:3])
        for f in findings
        if f["severity"] in ("error", "warning")
    ]


@pytest.mark.parametrize("base", BASES, ids=lambda p: p.parent.parent.name)
def test_pyenv_base_is_clean(base: Path, tmp_path: Path) -> None:
    assert bad(report_json(base, None, tmp_path)) == []


def stock_venv(base: Path) -> Path:
    """A venv of ``base`` with :data:`STOCK` installed, cached by interpreter + requirements."""
    version = run([base, "-c", "import sys; print(sys.version)"]).stdout
    key = hashlib.sha256(f"{base}\n{version}\n{STOCK}".encode()).hexdigest()[:16]
    venv = CACHE / f"stock-{base.parent.parent.name}-{key}"
    python = venv / "bin" / "python"
    if (venv / ".complete").is_file() and python.is_file():
        return python
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([base, "-m", "venv", venv])
    try:
        run([python, "-m", "pip", "install", "-q", "--only-binary", ":all:", *STOCK])
    except AssertionError as exc:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"stock wheels not available: {str(exc)[-300:]}")
    (venv / ".complete").write_text("\n".join(STOCK) + "\n")
    return python


@pytest.mark.parametrize(
    "base",
    [b for b in BASES if b.parent.parent.name.startswith(("3.8.", "3.13."))],
    ids=lambda p: p.parent.parent.name,
)
def test_stock_venv_is_clean(base: Path, tmp_path: Path) -> None:
    python = stock_venv(base)
    run([python, "-c", "import black, zmq, zope.interface, google.cloud.storage, numpy, pandas"])
    assert bad(report_json(python, None, tmp_path)) == []
