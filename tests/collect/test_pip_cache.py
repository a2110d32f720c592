"""pyenvdoctor.collect.pip_cache checked against the real ``pip cache dir`` / ``pip cache info``.

Every pip run gets a controlled environment: the test's environment without ``PIP_*`` and
``XDG_*`` variables, ``HOME`` in tmp_path and the working directory tmp_path, plus the case's own
variables and files. The machine's ``/etc/pip.conf`` is read by both sides.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyenvdoctor.collect.pip_cache import PipCacheLocation, locate_pip_cache, measure_pip_cache

PY313 = "/root/.pyenv/versions/3.13.0/bin/python"


@dataclass(frozen=True)
class Target:
    python: str
    prefix: str  # its sys.prefix


def _target(python: str) -> Target:
    prefix = subprocess.run(
        [python, "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    return Target(python, prefix)


@pytest.fixture(
    scope="session",
    params=[
        pytest.param(sys.executable, id="host"),
        pytest.param(
            PY313,
            id="py3.13",
            marks=pytest.mark.skipif(not Path(PY313).exists(), reason=f"{PY313} is absent"),
        ),
    ],
)
def target(request: pytest.FixtureRequest) -> Target:
    return _target(request.param)


@pytest.fixture(scope="session")
def venv_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    """A throwaway venv with pip, whose prefix can hold a SITE pip.conf."""
    root = tmp_path_factory.mktemp("site") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", str(root)], check=True, capture_output=True, timeout=600
    )
    return _target(str(root / "bin" / "python"))


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path with a ``home`` directory; also the working directory (relative paths)."""
    (tmp_path / "home").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def clean_env(sandbox: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "XDG_"))}
    env["HOME"] = str(sandbox / "home")
    env.update(extra)
    return env


def run_pip(
    python: str, *args: str, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "pip", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def pip_cache_dir(python: str, env: Mapping[str, str], cwd: Path) -> str | None:
    """What ``pip cache dir`` prints, or ``None`` when pip says the cache is disabled."""
    result = run_pip(python, "cache", "dir", env=env, cwd=cwd)
    if result.returncode == 0:
        return result.stdout.strip()
    assert "cache is disabled" in result.stderr, result.stderr
    return None


def compare(target: Target, env: Mapping[str, str], cwd: Path) -> PipCacheLocation:
    """Assert that locate_pip_cache agrees with the target's pip; return our answer."""
    expected = pip_cache_dir(target.python, env, cwd)
    location = locate_pip_cache(target_prefix=target.prefix, environ=env)
    assert (location.directory, location.disabled) == (expected, expected is None), location
    return location


def fill(text: str, sandbox: Path, prefix: str) -> str:
    return text.replace("{tmp}", str(sandbox)).replace("{prefix}", prefix)


@contextlib.contextmanager
def written(files: Mapping[str, str], sandbox: Path, prefix: str) -> Iterator[None]:
    """Write the case's files (``{prefix}`` ones too), and remove them afterwards."""
    paths: list[Path] = []
    try:
        for name, content in files.items():
            path = sandbox / fill(name, sandbox, prefix)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(fill(content, sandbox, prefix))
            paths.append(path)
        yield
    finally:
        for path in paths:
            path.unlink()


def case_env(target: Target, sandbox: Path, env: Mapping[str, str]) -> dict[str, str]:
    return clean_env(sandbox, {k: fill(v, sandbox, target.prefix) for k, v in env.items()})


def check_case(
    target: Target, sandbox: Path, env: Mapping[str, str], files: Mapping[str, str], source: str
) -> None:
    environ = case_env(target, sandbox, env)
    with written(files, sandbox, target.prefix):
        location = compare(target, environ, sandbox)
    assert fill(source, sandbox, target.prefix) in location.source


USER = "home/.config/pip/pip.conf"
LEGACY = "home/.pip/pip.conf"
USER_SOURCE = "{tmp}/home/.config/pip/pip.conf [global] cache-dir"

CASES = [
    pytest.param({}, {}, "default", id="default"),
    pytest.param({"PIP_CACHE_DIR": "{tmp}/env"}, {}, "PIP_CACHE_DIR", id="PIP_CACHE_DIR"),
    pytest.param({"PIP_Cache_Dir": "{tmp}/env"}, {}, "PIP_Cache_Dir", id="mixed-case-variable"),
    pytest.param(
        {"PIP_CONFIG_FILE": "{tmp}/custom.conf"},
        {"custom.conf": "[global]\ncache-dir = {tmp}/from-env-file\n"},
        "{tmp}/custom.conf [global] cache-dir",
        id="PIP_CONFIG_FILE",
    ),
    pytest.param(
        {"XDG_CONFIG_HOME": "{tmp}/xdg"},
        {"xdg/pip/pip.conf": "[global]\ncache-dir = {tmp}/from-xdg\n"},
        "{tmp}/xdg/pip/pip.conf [global] cache-dir",
        id="XDG_CONFIG_HOME",
    ),
    pytest.param({}, {USER: "[global]\ncache-dir = {tmp}/user\n"}, USER_SOURCE, id="user"),
    pytest.param(
        {},
        {LEGACY: "[global]\ncache-dir = {tmp}/legacy\n"},
        "{tmp}/home/.pip/pip.conf [global] cache-dir",
        id="user-legacy",
    ),
    pytest.param(
        {},
        {
            LEGACY: "[global]\ncache-dir = {tmp}/legacy\n",
            USER: "[global]\ncache-dir = {tmp}/new\n",
        },
        USER_SOURCE,
        id="user-over-legacy",
    ),
    pytest.param(
        {},
        {USER: "[cache]\ncache-dir = {tmp}/cache-section\n[global]\ncache-dir = {tmp}/g\n"},
        "[cache] cache-dir",
        id="cache-section-over-global",
    ),
    pytest.param(
        {"PIP_CONFIG_FILE": "{tmp}/custom.conf"},
        {
            "custom.conf": "[global]\ncache-dir = {tmp}/env-file-global\n",
            LEGACY: "[cache]\ncache-dir = {tmp}/user-cache\n",
        },
        "{tmp}/custom.conf [global] cache-dir",
        id="existing-PIP_CONFIG_FILE-hides-user-files",
    ),
    pytest.param(
        {"PIP_CONFIG_FILE": "{tmp}/missing.conf"},
        {USER: "[global]\ncache-dir = {tmp}/user\n"},
        USER_SOURCE,
        id="missing-PIP_CONFIG_FILE-keeps-user-files",
    ),
    pytest.param(
        {"PIP_CONFIG_FILE": os.devnull},
        {USER: "[global]\ncache-dir = {tmp}/user\n"},
        "default",
        id="PIP_CONFIG_FILE-devnull",
    ),
    pytest.param(
        {"XDG_CONFIG_DIRS": "{tmp}/sys1:{tmp}/sys2"},
        {
            "sys1/pip/pip.conf": "[global]\ncache-dir = {tmp}/sys1\n",
            "sys2/pip/pip.conf": "[global]\ncache-dir = {tmp}/sys2\n",
        },
        "{tmp}/sys2/pip/pip.conf [global] cache-dir",
        id="XDG_CONFIG_DIRS",
    ),
    pytest.param(
        {}, {USER: "[global]\ncache_dir = {tmp}/u\n"}, "[global] cache_dir", id="underscore-key"
    ),
    pytest.param({}, {USER: "[install]\ncache-dir = {tmp}/i\n"}, "default", id="other-section"),
    pytest.param(
        {}, {USER: "[DEFAULT]\ncache-dir = {tmp}/d\n[global]\n"}, USER_SOURCE, id="DEFAULT"
    ),
    pytest.param(
        {},
        {LEGACY: "[global]\ncache-dir = {tmp}/legacy\n", USER: "[global]\ncache-dir =\n"},
        "default",
        id="empty-value-hides-earlier-file",
    ),
    pytest.param(
        {"PIP_CACHE_DIR": "{tmp}/env", "PIP_CONFIG_FILE": "{tmp}/custom.conf"},
        {"custom.conf": "[cache]\ncache-dir = {tmp}/file\n"},
        "PIP_CACHE_DIR",
        id="variable-over-files",
    ),
    pytest.param({"PIP_CACHE_DIR": ""}, {}, "default", id="empty-variable-ignored"),
    pytest.param({"XDG_CACHE_HOME": "{tmp}/xdg-cache"}, {}, "default", id="XDG_CACHE_HOME"),
    pytest.param({"XDG_CACHE_HOME": "  "}, {}, "default", id="blank-XDG_CACHE_HOME"),
    pytest.param({"XDG_CACHE_HOME": "~/xdg-cache"}, {}, "default", id="tilde-XDG_CACHE_HOME"),
    pytest.param({"PIP_NO_CACHE_DIR": "1"}, {}, "PIP_NO_CACHE_DIR", id="PIP_NO_CACHE_DIR=1"),
    pytest.param(
        {"PIP_NO_CACHE_DIR": "false", "PIP_CACHE_DIR": "{tmp}/env"},
        {},
        "PIP_NO_CACHE_DIR",
        id="PIP_NO_CACHE_DIR=false",
    ),
    pytest.param({"PIP_NO_CACHE_DIR": ""}, {}, "default", id="empty-PIP_NO_CACHE_DIR"),
    pytest.param(
        {},
        {USER: "[global]\nno-cache-dir = off\n[cache]\ncache-dir = {tmp}/c\n"},
        "{tmp}/home/.config/pip/pip.conf [global] no-cache-dir",
        id="no-cache-dir-in-file",
    ),
    pytest.param({}, {USER: "[global]\ncache-dir = ~/tilde\n"}, USER_SOURCE, id="tilde-in-file"),
    pytest.param({"PIP_CACHE_DIR": "~/tilde"}, {}, "PIP_CACHE_DIR", id="tilde-in-variable"),
    pytest.param({"PIP_CACHE_DIR": "~root/pipcache"}, {}, "PIP_CACHE_DIR", id="tilde-user"),
    pytest.param({"PIP_CACHE_DIR": "$HOME/c"}, {}, "PIP_CACHE_DIR", id="no-variable-expansion"),
    pytest.param({"PIP_CACHE_DIR": "rel/cache"}, {}, "PIP_CACHE_DIR", id="relative"),
]


@pytest.mark.parametrize(("env", "files", "source"), CASES)
def test_locate_matches_pip(
    target: Target, sandbox: Path, env: dict[str, str], files: dict[str, str], source: str
) -> None:
    check_case(target, sandbox, env, files, source)


SITE = "{prefix}/pip.conf"
SITE_SOURCE = "{prefix}/pip.conf [global] cache-dir"

SITE_CASES = [
    pytest.param({}, {SITE: "[global]\ncache-dir = {tmp}/site\n"}, SITE_SOURCE, id="site"),
    pytest.param(
        {},
        {SITE: "[global]\ncache-dir = {tmp}/site\n", USER: "[global]\ncache-dir = {tmp}/u\n"},
        SITE_SOURCE,
        id="site-over-user",
    ),
    pytest.param(
        {},
        {SITE: "[global]\ncache-dir = {tmp}/site\n", USER: "[cache]\ncache-dir = {tmp}/u\n"},
        "{tmp}/home/.config/pip/pip.conf [cache] cache-dir",
        id="user-cache-section-over-site-global",
    ),
    pytest.param(
        {"PIP_CONFIG_FILE": "{tmp}/custom.conf"},
        {
            SITE: "[global]\ncache-dir = {tmp}/site\n",
            "custom.conf": "[global]\ncache-dir = {tmp}/env-file\n",
        },
        "{tmp}/custom.conf [global] cache-dir",
        id="env-file-over-site",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("env", "files", "source"), SITE_CASES)
def test_site_config_matches_pip(
    venv_target: Target, sandbox: Path, env: dict[str, str], files: dict[str, str], source: str
) -> None:
    check_case(venv_target, sandbox, env, files, source)


def test_symlinked_cache_dir_is_resolved(target: Target, sandbox: Path) -> None:
    (sandbox / "real").mkdir()
    (sandbox / "link").symlink_to(sandbox / "real")
    env = clean_env(sandbox, {"PIP_CACHE_DIR": str(sandbox / "link")})
    assert compare(target, env, sandbox).directory == str(sandbox / "real")


@pytest.mark.parametrize("child", ["", "sub"])
def test_cache_dir_pip_may_not_use_is_disabled(target: Target, sandbox: Path, child: str) -> None:
    """check_path_owner: as root, not owned by root; otherwise, not writable."""
    directory = sandbox / "not-mine"
    directory.mkdir()
    if os.geteuid() == 0:
        os.chown(directory, 65534, 65534)
    else:
        directory.chmod(0o555)
    env = clean_env(sandbox, {"PIP_CACHE_DIR": str(directory / child)})
    location = compare(target, env, sandbox)
    assert location.disabled
    assert "pip disables it" in location.source


@pytest.mark.parametrize(
    ("env", "files", "problem"),
    [
        pytest.param({"PIP_NO_CACHE_DIR": "maybe"}, {}, "is not a boolean", id="no-cache-dir"),
        pytest.param(
            {"PIP_CONFIG_FILE": "{tmp}/bad.conf"},
            {"bad.conf": "[global]\ncache-dir = /a\ncache-dir = /b\n"},
            "pip cannot load",
            id="duplicate-key",
        ),
    ],
)
def test_settings_pip_rejects_are_reported(
    target: Target, sandbox: Path, env: dict[str, str], files: dict[str, str], problem: str
) -> None:
    environ = case_env(target, sandbox, env)
    with written(files, sandbox, target.prefix):
        result = run_pip(target.python, "cache", "dir", env=environ, cwd=sandbox)
        location = locate_pip_cache(target_prefix=target.prefix, environ=environ)
    assert result.returncode not in (0, 1), result  # a usage/config error, not "disabled"
    assert not location.disabled
    assert location.directory == str(sandbox / "home" / ".cache" / "pip")
    assert problem in location.source


def test_other_platforms_defaults(tmp_path: Path) -> None:
    home = str(tmp_path)
    darwin = locate_pip_cache(target_prefix=home, environ={"HOME": home}, platform="darwin")
    assert darwin == (f"{home}/Library/Caches/pip", "default", False)
    windows = locate_pip_cache(
        target_prefix="C:\\Python",
        environ={"LOCALAPPDATA": "C:\\Users\\Me\\AppData\\Local"},
        platform="win32",
    )
    assert windows == ("c:\\users\\me\\appdata\\local\\pip\\cache", "default", False)


# --- measurement -------------------------------------------------------------------------------


def make_tree(root: Path) -> None:
    """A cache with every kind of entry (file name: size in bytes)."""
    files = {
        "http-v2/a/b/file": 10,
        "http/x": 7,
        "wheels/ab/cd/foo-1.0-py3-none-any.whl": 100,
        "wheels/ab/notawheel.txt": 5,
        "selfcheck/x.json": 3,
        "top-level-file": 2,
    }
    for name, size in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)


def make_hazards(root: Path, outside: Path) -> None:
    """Entries that must neither raise nor be followed (pip's os.walk does not follow them)."""
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"x" * 5000)
    (outside / "bar-2.0-py3-none-any.whl").write_bytes(b"x" * 50)
    (root / "http-v2" / "dangling").symlink_to(root / "nowhere")  # a file of 0 bytes to pip
    (root / "http-v2" / "loop").symlink_to("loop")  # stat fails: a file of 0 bytes to pip
    (root / "http-v2" / "a" / "outside").symlink_to(outside)
    (root / "wheels" / "outside").symlink_to(outside)
    (root / "outside").symlink_to(outside)


def pip_cache_info(python: str, env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    result = run_pip(python, "cache", "info", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return dict(re.findall(r"^(.+?): (.*)$", result.stdout, flags=re.MULTILINE))


def format_size(size: float) -> str:
    """pip ``utils/misc.py format_size``, to compare with ``pip cache info``."""
    if size > 1000 * 1000:
        return f"{size / 1000.0 / 1000:.1f} MB"
    if size > 10 * 1000:
        return f"{int(size / 1000)} kB"
    if size > 1000:
        return f"{size / 1000.0:.1f} kB"
    return f"{int(size)} bytes"


def test_measure_exact(sandbox: Path) -> None:
    cache = sandbox / "cache"
    make_tree(cache)
    make_hazards(cache, sandbox / "outside")
    env = clean_env(sandbox, {"PIP_CACHE_DIR": str(cache)})
    measured = measure_pip_cache(target_prefix=sys.prefix, environ=env)
    assert (measured.directory, measured.source, measured.disabled, measured.exists) == (
        str(cache),
        "PIP_CACHE_DIR",
        False,
        True,
    )
    assert (measured.http_files, measured.http_bytes) == (4, 17)
    assert (measured.wheels_files, measured.wheels_bytes) == (1, 105)
    assert (measured.other_files, measured.other_bytes) == (2, 5)
    assert measured.total_bytes == 127


def test_measure_matches_pip_cache_info(target: Target, sandbox: Path) -> None:
    cache = sandbox / "cache"
    make_tree(cache)
    make_hazards(cache, sandbox / "outside")
    env = clean_env(sandbox, {"PIP_CACHE_DIR": str(cache)})
    info = pip_cache_info(target.python, env, sandbox)
    measured = measure_pip_cache(target_prefix=target.prefix, environ=env)
    assert info["Number of locally built wheels"] == str(measured.wheels_files)
    assert info["Locally built wheels size"] == format_size(measured.wheels_bytes)
    if "Package index page cache location (pip v23.3+)" in info:  # pip counts http + http-v2
        assert info["Number of HTTP files"] == str(measured.http_files)
        assert info["Package index page cache size"] == format_size(measured.http_bytes)


def test_symlinked_top_level_directory_is_followed_like_pip(target: Target, sandbox: Path) -> None:
    """pip's os.walk follows the ``wheels`` directory it is given even when it is a symlink."""
    cache = sandbox / "cache"
    cache.mkdir()
    elsewhere = sandbox / "elsewhere"
    make_tree(elsewhere)
    (cache / "wheels").symlink_to(elsewhere / "wheels")
    env = clean_env(sandbox, {"PIP_CACHE_DIR": str(cache)})
    info = pip_cache_info(target.python, env, sandbox)
    measured = measure_pip_cache(target_prefix=target.prefix, environ=env)
    assert (measured.wheels_files, measured.wheels_bytes) == (1, 105)
    assert info["Number of locally built wheels"] == "1"
    assert info["Locally built wheels size"] == format_size(105)


def test_measure_missing_and_disabled(sandbox: Path) -> None:
    missing = sandbox / "missing"
    env = clean_env(sandbox, {"PIP_CACHE_DIR": str(missing)})
    measured = measure_pip_cache(target_prefix=sys.prefix, environ=env)
    assert (measured.directory, measured.exists, measured.total_bytes) == (str(missing), False, 0)
    env = clean_env(sandbox, {"PIP_NO_CACHE_DIR": "yes"})
    measured = measure_pip_cache(target_prefix=sys.prefix, environ=env)
    assert (measured.directory, measured.disabled, measured.exists) == (None, True, False)
    assert measured.http_files == measured.wheels_files == measured.other_files == 0
