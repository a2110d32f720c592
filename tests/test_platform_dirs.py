"""The user cache/data/config directory rules (collect/caches.py, collect/pip_cache.py) against
platformdirs itself: the copy pip vendors (``pip._vendor.platformdirs``, what pip and the tools
built on platformdirs compute), run in a subprocess with each environment.

The rules are not platformdirs calls because the report computes them for the *user's*
environment mapping (and for a target platform), while platformdirs reads the host process's
``os.environ``; this test keeps the two equal, for Linux, macOS and Windows (platformdirs'
Windows rules fall back to the environment variables off Windows, which is what is compared).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pyenvdoctor.collect.caches import _user_cache_dir, _user_config_dir, _user_data_dir
from pyenvdoctor.collect.pip_cache import _default_cache_dir

ORACLE = """\
import json, sys
from pip._vendor.platformdirs.macos import MacOS
from pip._vendor.platformdirs.unix import Unix
from pip._vendor.platformdirs.windows import Windows
cls = {"linux": Unix, "darwin": MacOS, "win32": Windows}[sys.argv[1]]
out = {}
for app, author in (("pip", False), ("pipenv", None), ("pypoetry", False), ("hatch", False)):
    d = cls(app, appauthor=False)
    r = cls(app, appauthor=False, roaming=True)
    out[app] = [cls(app, appauthor=author).user_cache_dir, d.user_data_dir, r.user_data_dir,
                d.user_config_dir, r.user_config_dir]
print(json.dumps(out))
"""

HOME = "/home/someone"
ENVIRONMENTS = {
    "plain": {"HOME": HOME},
    "xdg": {
        "HOME": HOME,
        "XDG_CACHE_HOME": "/var/cache/someone",
        "XDG_DATA_HOME": "/data/someone",
        "XDG_CONFIG_HOME": "/etc/someone",
    },
    "xdg-blank": {"HOME": HOME, "XDG_CACHE_HOME": "  ", "XDG_CONFIG_HOME": ""},
    "windows": {
        "HOME": HOME,
        "USERPROFILE": "C:\\Users\\someone",
        "LOCALAPPDATA": "C:\\Users\\someone\\AppData\\Local",
        "APPDATA": "C:\\Users\\someone\\AppData\\Roaming",
    },
}


def _oracle(platform: str, environ: dict[str, str]) -> dict[str, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-I", "-c", ORACLE, platform],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(proc.stdout)
    return result


def _same(a: str) -> str:
    """Off Windows, platformdirs joins Windows folders with ``/``: compare separators alike."""
    return a.replace("\\", "/")


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
@pytest.mark.parametrize("name", sorted(ENVIRONMENTS))
def test_user_directories_are_platformdirs(platform: str, name: str) -> None:
    pytest.importorskip("pip._vendor.platformdirs")
    environ = ENVIRONMENTS[name]
    if platform == "win32" and "LOCALAPPDATA" not in environ:
        pytest.skip("platformdirs off Windows reads only the environment variables")
    expected = _oracle(platform, environ)
    for app, (cache, data, data_roaming, config, config_roaming) in expected.items():
        ours = [
            _user_cache_dir(app, environ, platform, app == "pipenv"),
            _user_data_dir(app, environ, platform, False),
            _user_data_dir(app, environ, platform, True),
            _user_config_dir(app, environ, platform, False),
            _user_config_dir(app, environ, platform, True),
        ]
        theirs = [cache, data, data_roaming, config, config_roaming]
        assert [_same(o) for o in ours] == [_same(t) for t in theirs], app
    assert _same(_default_cache_dir(environ, platform)) == _same(expected["pip"][0])


def test_pip_cache_dir_is_what_pip_says(tmp_path: Path) -> None:
    """And on this machine, the real answer: ``pip cache dir``."""
    for environ in ({"HOME": str(tmp_path)}, {"HOME": str(tmp_path), "XDG_CACHE_HOME": "/c"}):
        said = subprocess.run(
            [sys.executable, "-m", "pip", "cache", "dir"],
            env={**environ, "PIP_NO_CACHE_DIR": "", "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert _default_cache_dir(environ, "linux") == said
