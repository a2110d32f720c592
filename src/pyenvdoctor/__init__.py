"""pyenvdoctor: a doctor for Python environments.

``pyenvdoctor report`` inspects one interpreter and its environment (interpreter facts,
``sys.path``, installed distributions, bytecode, pip's cache) and says what is wrong and how to
fix it. See the README for the pipeline and the finding codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from pyenvdoctor.live import PurgeResult, StaleReport

__all__ = [
    "__version__",
    "load_ipython_extension",
    "purge_modules",
    "stale_modules",
    "unload_ipython_extension",
]

__version__ = "0.1.0"

# The functions below import their modules when called, so that ``import pyenvdoctor`` stays
# cheap (no rich, no scanning code) and the in-process watch starts only when asked for.


def stale_modules(names: Iterable[str] | None = None, *, since: float | None = None) -> StaleReport:
    """Modules of this process whose file changed on disk after they were imported, or is gone:
    :func:`pyenvdoctor.live.stale_modules` (which says how it knows, and its limits)."""
    from pyenvdoctor import live

    return live.stale_modules(names, since=since)


def purge_modules(*roots: str | os.PathLike[str]) -> PurgeResult:
    """Remove from ``sys.modules`` the modules under ``roots`` (default: the current project) so
    that the next import runs the new code: :func:`pyenvdoctor.live.purge_modules`."""
    from pyenvdoctor import live

    return live.purge_modules(*roots)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext pyenvdoctor``: see :mod:`pyenvdoctor.ipython`."""
    from pyenvdoctor import ipython as extension

    extension.load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext pyenvdoctor``."""
    from pyenvdoctor import ipython as extension

    extension.unload(ipython)
