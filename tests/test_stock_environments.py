"""Issue 14's stock set: healthy environments as a new user has them must report zero error
and zero warning findings. Venvs with popular wheels are built once and cached under
``~/.cache/pyenvdoctor-tests/`` keyed by interpreter and requirements (a fresh machine builds
them from PyPI or ``PIP_FIND_LINKS``; without either the test skips)."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import clean_env, report_json, run, site_packages
from pyenvdoctor.collect.managed import ManagedEnvironment, managed_environment

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


TOOLS = ("tox", "pipx", "nox")


def tool_venv() -> Path:
    """A venv with :data:`TOOLS` (tox, pipx, nox), cached like :func:`stock_venv`; its ``bin/``."""
    base = Path(sys.executable)
    version = run([base, "-c", "import sys; print(sys.version)"]).stdout
    key = hashlib.sha256(f"{os.path.realpath(base)}\n{version}\n{TOOLS}".encode()).hexdigest()[:16]
    venv = CACHE / f"tools-{key}"
    if (venv / ".complete").is_file() and (venv / "bin" / "tox").is_file():
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([base, "-m", "venv", venv])
    try:
        run([venv / "bin" / "python", "-m", "pip", "install", "-q", *TOOLS])
    except AssertionError as exc:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"tox, pipx and nox not available: {str(exc)[-300:]}")
    (venv / ".complete").write_text("\n".join(TOOLS) + "\n")
    return venv / "bin"


def tool_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    """:func:`clean_env` with the tools' ``bin/`` first on PATH, as a user who has them."""
    return clean_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **extra)


def test_tox_env_is_clean_and_its_command_runs_the_tree(tmp_path: Path) -> None:
    """A tox env holds a copy of the project that tox reinstalls at every run: information
    only, and the command it suggests (run here) makes the env run the edited tree."""
    bin_dir = tool_venv()
    env = tool_env(bin_dir)
    project = tmp_path / "toxproj"
    (project / "src" / "toxproj").mkdir(parents=True)
    (project / "src" / "toxproj" / "__init__.py").write_text("VALUE = 'first'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "toxproj"\nversion = "1.0"\n'
    )
    (project / "tox.ini").write_text(
        '[tox]\nenv_list = py\n[testenv]\ncommands = python -c "import toxproj"\n'
    )
    try:
        run(["tox", "-e", "py"], env=env, cwd=project)
    except AssertionError as exc:
        pytest.skip(f"tox could not build the project: {str(exc)[-300:]}")
    python = project / ".tox" / "py" / "bin" / "python"
    data = report_json(python, None, project)
    assert bad(data) == []
    (copy,) = [f for f in data["findings"] if f["code"] == "project-installed-as-copy"]
    assert copy["severity"] == "info" and "tox" in copy["title"]
    (command,) = copy["commands"]
    assert command == f"tox -c {project} -e py"
    (project / "src" / "toxproj" / "__init__.py").write_text("VALUE = 'edited'\n")
    run(["sh", "-c", command], env=env, cwd=tmp_path)
    out = run([python, "-c", "import toxproj; print(toxproj.VALUE)"], cwd=tmp_path)
    assert out.stdout == "edited\n"  # the env runs the tree as it is now


def test_tox_env_of_a_flat_project_reported_from_its_checkout_is_clean(tmp_path: Path) -> None:
    """A flat-layout project tested by tox, reported from the checkout with the tox env's
    interpreter: ``sys.path[0]`` is the working directory (CPython ``Modules/main.c``), so
    ``python -c "import flatpkg"`` there loads the tree (CPython's own ``__file__``), before the
    copy tox installed. That tree is the current project: ``distribution-shadowed`` is
    information, like ``project-installed-as-copy``, not "rename your file"."""
    bin_dir = tool_venv()
    env = tool_env(bin_dir)
    project = tmp_path / "flatproj"
    (project / "flatpkg").mkdir(parents=True)
    (project / "flatpkg" / "__init__.py").write_text("def mul(a, b):\n    return a * b\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_mul.py").write_text(
        "import flatpkg\n\ndef test_mul():\n    assert flatpkg.mul(2, 3) == 6\n"
    )
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "flatpkg"\nversion = "0.2.0"\n[tool.setuptools]\npackages = ["flatpkg"]\n'
    )
    (project / "tox.ini").write_text(
        "[tox]\nenv_list = py\n[testenv]\ndeps = pytest\ncommands = pytest -q tests\n"
    )
    try:
        run(["tox", "-e", "py"], env=env, cwd=project)
    except AssertionError as exc:
        pytest.skip(f"tox could not build the project: {str(exc)[-300:]}")
    python = project / ".tox" / "py" / "bin" / "python"
    code = "import flatpkg; print(flatpkg.__file__)"
    loaded = run([python, "-c", code], cwd=project).stdout.strip()
    assert loaded == str(project / "flatpkg" / "__init__.py")  # CPython: the tree, from here
    data = report_json(python, None, project)
    assert bad(data) == []
    (own,) = [f for f in data["findings"] if f["code"] == "distribution-shadowed"]
    assert own["severity"] == "info" and own["subject"] == str(project / "flatpkg")
    assert "current project flatpkg" in own["message"]


def test_nox_session_env_is_clean(tmp_path: Path) -> None:
    """A nox session that installs the project (``session.install(".")``): its copy is nox's
    to refresh at the next run, information without a command."""
    bin_dir = tool_venv()
    project = tmp_path / "noxproj"
    (project / "noxproj").mkdir(parents=True)
    (project / "noxproj" / "__init__.py").write_text("VALUE = 1\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=64"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "noxproj"\nversion = "1.0"\n[tool.setuptools]\npackages = ["noxproj"]\n'
    )
    (project / "noxfile.py").write_text(
        "import nox\n\n@nox.session\ndef tests(session):\n"
        "    session.install('.')\n    session.run('python', '-c', 'import noxproj')\n"
    )
    try:
        run(["nox", "-s", "tests"], env=tool_env(bin_dir), cwd=project)
    except AssertionError as exc:
        pytest.skip(f"nox could not install the project: {str(exc)[-300:]}")
    python = project / ".nox" / "tests" / "bin" / "python"
    sub = project / "docs"  # not the checkout root: there `import noxproj` loads the tree
    sub.mkdir()
    data = report_json(python, None, sub)
    assert bad(data) == []
    (copy,) = [f for f in data["findings"] if f["code"] == "project-installed-as-copy"]
    assert copy["severity"] == "info" and "nox" in copy["title"]
    assert copy["commands"] == []


def test_pipx_app_venv_is_clean(tmp_path: Path) -> None:
    bin_dir = tool_venv()
    home = tmp_path / "pipx"
    env = tool_env(
        bin_dir,
        PIPX_HOME=str(home),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
    )
    try:
        run(["pipx", "install", "black"], env=env)
    except AssertionError as exc:
        pytest.skip(f"pipx could not install black: {str(exc)[-300:]}")
    python = home / "venvs" / "black" / "bin" / "python"
    run([tmp_path / "bin" / "black", "--version"], env=env)
    report = report_json(python, None, tmp_path)
    assert bad(report) == []
    # pipx's shared libraries (pip) come from a .pth line of the app's venv, not from the base
    # interpreter: site.addpackage put them there (issue 14, class 8).
    shared = [e for e in report["sys_path"] if e["path"].startswith(str(home / "shared"))]
    if (site_packages(python) / "pipx_shared.pth").is_file():
        assert [e["location"] for e in shared] == ["pth"]
        assert shared[0]["pth_file"] == str(site_packages(python) / "pipx_shared.pth")
    assert not [f for f in report["findings"] if f["code"] == "bytecode-foreign"]
    # pipx's own marker: the environment is the app's, not the user's (project-installed-as-copy).
    assert (home / "venvs" / "black" / "pipx_metadata.json").is_file()
    assert managed_environment(str(home / "venvs" / "black")) == ManagedEnvironment(
        tool="pipx", name="black"
    )


def test_debian_system_site_packages_venv_is_clean(tmp_path: Path) -> None:
    """Debian's python3 with ``--system-site-packages``: the venv's pip and setuptools over
    dpkg's copies are PEP 405 layering, not duplicates."""
    debian = Path("/usr/bin/python3")
    if not debian.is_file() or not Path("/usr/lib/python3/dist-packages").is_dir():
        pytest.skip("no Debian system Python")
    try:
        run([debian, "-m", "venv", "--system-site-packages", tmp_path / "venv"])
    except AssertionError as exc:  # python3-venv not installed
        pytest.skip(f"Debian's venv is not available: {str(exc)[-200:]}")
    python = tmp_path / "venv" / "bin" / "python"
    listed = run([python, "-m", "pip", "list", "-v"]).stdout
    assert "/usr/lib/python3/dist-packages" in listed  # the base's distributions are seen
    assert bad(report_json(python, None, tmp_path)) == []


def hatch_bin() -> Path:
    """A venv with hatch from PyPI (or ``PIP_FIND_LINKS``), cached like :func:`tool_venv`; its
    ``bin/``. Skips cleanly when hatch cannot be installed."""
    base = Path(sys.executable)
    version = run([base, "-c", "import sys; print(sys.version)"]).stdout
    key = hashlib.sha256(f"{os.path.realpath(base)}\n{version}\nhatch".encode()).hexdigest()[:16]
    venv = CACHE / f"hatch-{key}"
    if (venv / ".complete").is_file() and (venv / "bin" / "hatch").is_file():
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([base, "-m", "venv", venv])
    try:
        run([venv / "bin" / "python", "-m", "pip", "install", "-q", "hatch"])
    except AssertionError as exc:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"hatch not available: {str(exc)[-300:]}")
    (venv / ".complete").write_text("hatch\n")
    return venv / "bin"


@pytest.mark.parametrize("dev_mode", [True, False], ids=["dev-mode", "copy"])
def test_hatch_env_is_clean(tmp_path: Path, dev_mode: bool) -> None:
    """``hatch env create`` for a tiny src-layout project, hatch's data in ``tmp_path``
    (``HATCH_DATA_DIR``). hatch's default installs the project editable (nothing to say); with
    ``dev-mode = false`` the copy is hatch's to refresh: information naming hatch, no command.
    hatch's own ``env find`` says where the environment is."""
    bin_dir = hatch_bin()
    project = tmp_path / "hatchproj"
    (project / "src" / "hatchproj").mkdir(parents=True)
    (project / "src" / "hatchproj" / "__init__.py").write_text("VALUE = 'v1'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        '[project]\nname = "hatchproj"\nversion = "1.0"\n'
        f"[tool.hatch.envs.default]\ndev-mode = {str(dev_mode).lower()}\n"
    )
    env = tool_env(
        bin_dir,
        HOME=str(tmp_path / "home"),
        HATCH_DATA_DIR=str(tmp_path / "hatch-data"),
        HATCH_CACHE_DIR=str(tmp_path / "hatch-cache"),
    )
    try:
        run(["hatch", "env", "create"], env=env, cwd=project)
    except AssertionError as exc:
        pytest.skip(f"hatch could not create the environment: {str(exc)[-300:]}")
    prefix = Path(run(["hatch", "env", "find"], env=env, cwd=project).stdout.strip())
    assert prefix.is_relative_to(tmp_path / "hatch-data")
    assert managed_environment(str(prefix)) == ManagedEnvironment(tool="hatch", name="default")
    python = prefix / "bin" / "python"
    (project / "src" / "hatchproj" / "__init__.py").write_text("VALUE = 'v2'\n")
    out = run([python, "-c", "import hatchproj; print(hatchproj.VALUE)"], cwd=tmp_path)
    assert out.stdout == ("v2\n" if dev_mode else "v1\n")  # editable, or hatch's copy
    data = report_json(python, None, project)
    assert bad(data) == []
    copy = [f for f in data["findings"] if f["code"] == "project-installed-as-copy"]
    if dev_mode:
        assert copy == []
    else:
        (finding,) = copy
        assert finding["severity"] == "info"
        assert finding["title"] == "hatchproj is installed as a copy in a hatch environment"
        assert "hatch made this environment ('default')" in finding["message"]
        assert finding["commands"] == []
