"""Virtual environments beside the project: ``.venv``, ``venv``, ``env``, ``.tox/*``, ``.nox/*``.

Each is read from its PEP 405 ``pyvenv.cfg`` (``key = value`` lines, as CPython's
``Lib/site.py venv()`` and ``Modules/getpath.py`` read them):

* ``home``: the directory of the interpreter the environment was made from. CPython's
  ``getpath.py`` looks for the standard library from there, so when it is gone the environment
  no longer starts, even with ``--copies``.
* ``executable`` (written by ``venv`` since 3.11, ``Lib/venv/__init__.py
  create_configuration``) or ``base-executable`` (virtualenv 20, ``create/creator.py``): the
  interpreter itself; otherwise what the environment's ``bin/python`` links to, otherwise
  ``home/python3``.
* ``version`` (venv), ``version_info`` (virtualenv, uv); ``virtualenv`` and ``uv`` name the
  creator and its version.

tox 4 keeps one environment per directory in ``.tox`` (``.tox/.pkg`` too), nox one per session
in ``.nox``. Sizes are measured as for caches (:func:`pyenvdoctor.collect.caches.measure_tree`):
disk usage counts each inode once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pyenvdoctor import files
from pyenvdoctor.collect.caches import measure_tree
from pyenvdoctor.model import NearbyVenv

__all__ = [
    "NEARBY_NAMES",
    "NEARBY_PARENTS",
    "find_nearby_venvs",
    "read_nearby_venv",
    "read_pyvenv_cfg",
]

#: Directory names that hold one environment.
NEARBY_NAMES = (".venv", "venv", "env")
#: Directory names whose subdirectories each hold one environment (tox, nox).
NEARBY_PARENTS = (".tox", ".nox")


def read_pyvenv_cfg(path: str) -> dict[str, str] | None:
    """``pyvenv.cfg`` as ``{key: value}`` (keys lower-cased, as ``site.venv()`` does), or ``None``
    when it cannot be read. Lines end where ``site.venv()``'s text-mode file iteration ends
    them (``\n``, ``\r``, ``\r\n``), not at every :meth:`str.splitlines` boundary (``\x0b``,
    ``\x0c``, ``\x1c``-``\x1e``, ``\x85``, ``\u2028``, ``\u2029``)."""
    try:
        text = files.read_text(path, errors="surrogateescape")  # newlines translated to \n
    except OSError:
        return None
    values = {}
    for line in text.split("\n"):
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    return values


def _environment_python(venv: str) -> str | None:
    """The environment's own interpreter (``bin/python`` or ``Scripts/python.exe``) if the name
    exists, even as a dangling symlink."""
    for candidate in (
        os.path.join(venv, "bin", "python"),
        os.path.join(venv, "bin", "python3"),
        os.path.join(venv, "Scripts", "python.exe"),
    ):
        if os.path.lexists(candidate):
            return candidate
    return None


def _creator(cfg: dict[str, str]) -> str:
    for tool in ("uv", "virtualenv"):
        if tool in cfg:
            return f"{tool} {cfg[tool]}".strip()
    return "venv"


def read_nearby_venv(
    path: str, name: str, *, now: float, target_prefix: str | None
) -> NearbyVenv | None:
    """One environment directory, or ``None`` when it has no ``pyvenv.cfg``.

    :param name: how to show it (relative to the directory searched).
    :param now: seconds since the epoch (passed on to the size walk).
    :param target_prefix: the inspected interpreter's ``sys.prefix`` (to mark the target).
    """
    cfg = read_pyvenv_cfg(os.path.join(path, "pyvenv.cfg"))
    if cfg is None:
        return None
    home = cfg.get("home") or None
    own = _environment_python(path)
    base = cfg.get("executable") or cfg.get("base-executable") or None
    if base is None and own is not None and os.path.islink(own):
        resolved = os.path.realpath(own)  # the end of the chain, even when it is missing
        inside = os.path.realpath(path) + os.sep
        base = None if resolved.startswith(inside) else resolved
    if base is None and home:
        base = os.path.join(home, "python.exe" if own and own.endswith(".exe") else "python3")
    problem = None
    if home is not None and not os.path.isdir(home):
        problem = f"home {home} is missing"
    elif base is not None and not os.path.exists(base):
        problem = f"{base} is missing"
    elif own is not None and not os.path.exists(own):
        problem = f"{own} points at {os.path.realpath(own)}, which is missing"
    size = measure_tree(path, now=now)
    is_target = target_prefix is not None and _same(path, target_prefix)
    return NearbyVenv(
        path=path,
        name=name,
        creator=_creator(cfg),
        version=cfg.get("version") or cfg.get("version_info") or None,
        home=home,
        base_executable=base,
        interpreter_exists=problem is None,
        problem=problem,
        is_target=is_target,
        files=size.files,
        apparent_bytes=size.apparent_bytes,
        disk_bytes=size.disk_bytes,
    )


def _same(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _candidates(directory: str) -> Iterable[tuple[str, str]]:
    for name in NEARBY_NAMES:
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            yield path, name
    for parent in NEARBY_PARENTS:
        try:
            with os.scandir(os.path.join(directory, parent)) as it:
                names = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
        except OSError:
            continue
        for name in names:
            yield os.path.join(directory, parent, name), f"{parent}/{name}"


def find_nearby_venvs(
    directories: Iterable[str], *, now: float, target_prefix: str | None = None
) -> tuple[NearbyVenv, ...]:
    """The environments in each of ``directories`` (the project root, the working directory),
    each reported once, in the order found.

    :param now: seconds since the epoch (passed on to the size walk).
    :param target_prefix: the inspected interpreter's ``sys.prefix``.
    """
    found: list[NearbyVenv] = []
    seen: set[str] = set()
    for directory in directories:
        for path, name in _candidates(directory):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            venv = read_nearby_venv(path, name, now=now, target_prefix=target_prefix)
            if venv is not None:
                found.append(venv)
    return tuple(found)
