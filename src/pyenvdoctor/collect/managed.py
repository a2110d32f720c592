"""Is the target's environment one that a tool creates and fills itself (tox, nox, pipx,
hatch)? Then what is installed there is the tool's business: tox and nox install the project
afresh on each run, so a non-editable copy of it there is expected.

Read from the markers each tool leaves (no tool is run):

- tox 4 writes ``<env>/.tox-info.json`` (``{"ToxEnv": {"name": ..., "type": ...}}``, tox
  ``tox/tox_env/info.py``); tox 3 and 4 put environments in ``{toxworkdir}/<name>``,
  ``toxworkdir`` being ``{toxinidir}/.tox`` unless configured.
- nox puts sessions in ``<noxfile dir>/.nox/<slug>`` (nox ``sessions.py`` ``envdir``).
- pipx writes ``<PIPX_HOME>/venvs/<app>/pipx_metadata.json`` (pipx ``pipx_metadata_file.py``).
- hatch keeps virtual environments at ``<data dir>/env/virtual/<project>/<project id>/<env>``
  (hatch ``env/virtual.py``: the directory is the project's name for the ``default``
  environment) and their metadata in ``<data dir>/env/.metadata/<project id>/virtual/``
  (``project/core.py``), wherever the data directory is (``HATCH_DATA_DIR``); an
  environment in the project (``path`` set) is not recognised here.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from pyenvdoctor import files

__all__ = ["ManagedEnvironment", "managed_environment"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ManagedEnvironment:
    """The tool that manages an environment.

    :ivar tool: ``tox``, ``nox``, ``pipx`` or ``hatch``.
    :ivar name: the tox environment, nox session directory, pipx app or hatch environment.
    :ivar config_dir: tox: the directory holding ``.tox`` (where ``tox`` finds its
        configuration by default), else ``None``.
    """

    tool: str
    name: str
    config_dir: str | None = None


def _tox_name(prefix: str) -> str | None:
    """``ToxEnv.name`` of tox 4's ``.tox-info.json``, or ``None`` (absent or unreadable)."""
    try:
        data = json.loads(files.read_text(os.path.join(prefix, ".tox-info.json")))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    env = data.get("ToxEnv") if isinstance(data, dict) else None
    name = env.get("name") if isinstance(env, dict) else None
    return name if isinstance(name, str) and name else None


def managed_environment(prefix: str) -> ManagedEnvironment | None:
    """The tool managing the environment at ``prefix`` (the target's ``sys.prefix``), or
    ``None`` for an environment no known tool made (or that is not a virtual environment)."""
    prefix = os.path.abspath(prefix)
    parent, base = os.path.split(prefix)
    tox_name = _tox_name(prefix)
    if tox_name is not None or os.path.basename(parent) == ".tox":
        in_tox_dir = os.path.basename(parent) == ".tox"
        return ManagedEnvironment(
            tool="tox",
            name=tox_name or base,
            config_dir=os.path.dirname(parent) if in_tox_dir else None,
        )
    if os.path.basename(parent) == ".nox":
        return ManagedEnvironment(tool="nox", name=base)
    if os.path.isfile(os.path.join(prefix, "pipx_metadata.json")):
        return ManagedEnvironment(tool="pipx", name=base)
    hatch = _hatch_name(prefix)
    if hatch is not None:
        return ManagedEnvironment(tool="hatch", name=hatch)
    parts = prefix.split(os.sep)
    if any(parts[i : i + 3] == ["hatch", "env", "virtual"] for i in range(len(parts))):
        return ManagedEnvironment(tool="hatch", name=base)
    return None


def _hatch_name(prefix: str) -> str | None:
    """The hatch environment's name when ``prefix`` is ``.../env/virtual/<project>/<id>/<dir>``
    and hatch's metadata directory ``.../env/.metadata/<id>/virtual`` exists; else ``None``."""
    id_dir, directory = os.path.split(prefix)
    project_dir, project_id = os.path.split(id_dir)
    virtual, project = os.path.split(project_dir)
    env_root, kind = os.path.split(virtual)
    if kind != "virtual" or not os.path.isdir(
        os.path.join(env_root, ".metadata", project_id, kind)
    ):
        return None
    return "default" if directory == project else directory
