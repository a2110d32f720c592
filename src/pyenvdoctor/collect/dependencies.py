"""What ``python -m pip check`` reports for a target interpreter, computed on the host with
``packaging`` against the *target's* marker environment and tags, without running pip.

Rules: pip 24.2 ``_internal/operations/check.py``, ``commands/check.py``, ``metadata/base.py``,
``metadata/importlib/{_dists,_envs,_compat}.py``. pip prints every "missing" line, then every
"conflict" line (projects in the order found, each one's lines sorted by ``str``), then, since
pip 24.2, every "unsupported" line: :attr:`DependencyCheck.problems` + :func:`check_supported`.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sysconfig
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Protocol

from packaging import tags
from packaging.markers import Marker, UndefinedEnvironmentName
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from pyenvdoctor.model import CheckSkipped, DependencyProblem, DependencyProblemKind

__all__ = [
    "DependencyCheck",
    "InstalledDistribution",
    "check_dependencies",
    "check_supported",
    "read_installed",
    "target_supported_tags",
]

#: pip ``utils/compat.py`` ``stdlib_pkgs``: left out of the unsupported check by default.
_STDLIB_PKGS = frozenset({"python", "wsgiref", "argparse"})
#: pip ``metadata/base.py`` ``iter_all_distributions``: other names are ignored (PEP 508).
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class InstalledDistribution:
    """What ``pip check`` reads of one installed distribution.

    :ivar name: ``Name`` from its metadata as written (pip prints it for "unsupported"); when
        the metadata has none, the directory's name part.
    :ivar version: as pip 24.1+ reads it: the version part of ``<name>-<version>.dist-info``,
        else ``Version`` from the metadata (pip ``_dists.py`` ``Distribution.version``).
    :ivar requires_dist: ``Requires-Dist`` values, stripped, not parsed (for an ``.egg-info``,
        its ``requires.txt`` as ``importlib.metadata`` converts it).
    :ivar wheel_tags: the ``Tag`` values of its ``WHEEL`` file as :mod:`email.parser` reads them
        (so none after a blank line); ``None`` when there is no readable ``WHEEL`` file.
    :ivar key: the name part of its ``.dist-info``/``.egg-info`` directory, which pip keys the
        distribution by when there is one (pip ``_compat.py`` ``get_dist_canonical_name``).
    :ivar metadata_error: why its metadata cannot be read at all (see :class:`DependencyCheck`).
    """

    name: str
    version: str
    requires_dist: tuple[str, ...] = ()
    wheel_tags: tuple[str, ...] | None = None
    key: str | None = None
    metadata_error: str | None = None

    @property
    def canonical_name(self) -> str:
        """PEP 503 normalized :attr:`key` (else :attr:`name`): the name pip prints and keys by."""
        return canonicalize_name(self.key or self.name)


@dataclass(frozen=True, kw_only=True, slots=True)
class DependencyCheck:
    """The "missing" and "conflict" lines of ``pip check`` in its order; and, in ``skipped``, the
    distributions pip logs "Error parsing dependencies of <name>: <error>" for (exit status 1,
    no line on stdout; pip leaves them out, so what requires them is "missing")."""

    problems: tuple[DependencyProblem, ...]
    skipped: tuple[CheckSkipped, ...]


class _MetadataSource(Protocol):
    """An ``importlib.metadata`` or ``importlib_metadata`` distribution."""

    @property
    def metadata(self) -> Any: ...
    @property
    def requires(self) -> list[str] | None: ...
    def read_text(self, filename: str) -> str | None: ...


def read_installed(dist: _MetadataSource) -> InstalledDistribution:
    """Read what ``pip check`` uses of ``dist``; never raises (errors go to ``metadata_error``).

    Name and version come from the ``.dist-info`` directory's name first (pip
    ``parse_name_and_version_from_info_directory``). A missing ``METADATA`` is no error: pip
    24.2 reads it as empty (no requirements, ``Name`` falls back to the canonical name).
    """
    info_name = getattr(getattr(dist, "_path", None), "name", "")  # pip's get_info_location
    stem, suffix = PurePath(info_name).stem, PurePath(info_name).suffix
    key: str | None = None
    version: str | None = None
    if suffix == ".dist-info" and "-" in stem:
        key, _, version = stem.partition("-")
    elif suffix == ".egg-info":
        key = stem.split("-", 1)[0]
    error: str | None = None
    name: str | None = None
    requires: tuple[str, ...] = ()
    try:
        metadata = dist.metadata
        name, version = metadata.get("Name"), version or metadata.get("Version")
        requires = tuple(r.strip() for r in dist.requires or ())
    except FileNotFoundError:  # importlib_metadata >= 8 raises MetadataNotFound; pip reads ""
        pass
    except (OSError, ValueError) as exc:  # unreadable or undecodable metadata
        error = str(exc) or type(exc).__name__
    if not (name or key):
        error = error or "invalid metadata entry 'name'"  # pip _compat.py BadMetadata
    wheel_tags = None
    with contextlib.suppress(OSError, ValueError):
        if (wheel := dist.read_text("WHEEL")) is not None:
            wheel_tags = tuple(_headers(wheel).get_all("Tag") or ())
    return InstalledDistribution(
        name=name or canonicalize_name(key or stem),
        version=version or "",
        requires_dist=requires,
        wheel_tags=wheel_tags,
        key=key,
        metadata_error=error,
    )


def _visible(dists: Iterable[InstalledDistribution]) -> Iterator[InstalledDistribution]:
    """First of each name (pip ``_DistributionFinder``), if valid (``iter_all_distributions``)."""
    seen: set[str] = set()
    for dist in dists:
        if dist.canonical_name not in seen:
            seen.add(dist.canonical_name)
            if _VALID_NAME.match(dist.canonical_name):
                yield dist


def _headers(text: str) -> Any:
    from pyenvdoctor.collect.distributions import Headers  # the same header rules as METADATA

    return Headers(text)


@functools.lru_cache(maxsize=8192)
def _requirement(line: str) -> Requirement:
    """PEP 508 parsing, once per distinct string (many recur across distributions).

    A line without ``@`` (no URL) whose marker text recurs (``; python_version < "3.11"``,
    ``; extra == "test"``: 496 distinct markers among 2,382 in the benchmark venv) is parsed as
    its part before the first ``;`` plus the marker, parsed once per distinct text: the same
    result, since outside a URL no PEP 508 token before the marker can hold a ``;``
    (``packaging._tokenizer``: names, extras and version specifiers exclude it). Anything that
    part-wise parsing rejects is parsed whole, for packaging's own error.

    :raises InvalidRequirement: as :class:`packaging.requirements.Requirement`.
    """
    if "@" not in line:
        head, semicolon, marker = line.partition(";")
        if semicolon:
            try:
                requirement = Requirement(head)
                requirement.marker = _marker(marker)
            except ValueError:  # InvalidRequirement, InvalidMarker: whole, for the message
                pass
            else:
                return requirement
    return Requirement(line)


@functools.lru_cache(maxsize=4096)
def _marker(text: str) -> Marker:
    """A PEP 508 marker, parsed once per distinct text (it is not mutated after parsing).

    :raises InvalidMarker: as :class:`packaging.markers.Marker`.
    """
    return Marker(text)


def _true(
    marker: Marker, environment: dict[str, str], cache: dict[int, tuple[Marker, bool]]
) -> bool:
    """``marker.evaluate(environment)``, once per marker object (one environment per check;
    the cache holds the marker, so its ``id`` cannot be reused meanwhile).

    :raises UndefinedComparison, UndefinedEnvironmentName: as ``Marker.evaluate``.
    """
    hit = cache.get(id(marker))
    if hit is None:
        hit = cache[id(marker)] = (marker, marker.evaluate(environment))
    return hit[1]


def check_dependencies(
    dists: Sequence[InstalledDistribution], *, marker_environment: Mapping[str, str]
) -> DependencyCheck:
    """Find the "missing" and "conflict" problems ``pip check`` prints, in its order.

    pip ``check.py`` ``create_package_set_from_installed`` keeps the requirements whose marker
    is absent or true with ``extra == ""`` (``_dists.py`` ``iter_dependencies``);
    ``check_package_set``: missing when no distribution has its canonical name, a conflict when
    ``not req.specifier.contains(version, prereleases=True)``; each project's set sorted by str.

    :param dists: the target's distributions in ``sys.path`` order (later ones of a name are
        ignored, as pip does).
    :param marker_environment: the *target's* PEP 508 environment (``{"python_version":
        "3.11", ...}``); ``extra`` is set to ``""``. Give all 11 keys: ``packaging`` fills a
        missing one from the *host*.
    """
    environment = {**marker_environment, "extra": ""}
    package_set: dict[str, tuple[Version, list[Requirement]]] = {}
    skipped = []
    evaluated: dict[int, tuple[Marker, bool]] = {}  # id(marker) -> (marker, value)
    for dist in _visible(dists):
        try:
            if dist.metadata_error is not None:
                raise ValueError(dist.metadata_error)
            requirements = [_requirement(line) for line in dist.requires_dist]
            dependencies = [
                r for r in requirements if not r.marker or _true(r.marker, environment, evaluated)
            ]
            package_set[dist.canonical_name] = (Version(dist.version), dependencies)
        # InvalidRequirement, InvalidVersion, UndefinedComparison...; UndefinedEnvironmentName
        # (a marker comparing two literals, '"" < ""', looks the right one up as a variable) is
        # a ValueError in the packaging pip vendors, a KeyError from packaging 26.
        except (ValueError, UndefinedEnvironmentName) as exc:
            reason = f"Error parsing dependencies of {dist.canonical_name}: {exc}"
            skipped.append(CheckSkipped(check="pip-check", reason=reason))
    missing: list[DependencyProblem] = []
    conflicts: list[DependencyProblem] = []
    for project, (version, dependencies) in package_set.items():
        lacking: set[tuple[str, Requirement]] = set()
        clashing: set[tuple[str, Version, Requirement]] = set()
        for req in dependencies:
            name = canonicalize_name(req.name)
            if name not in package_set:  # pip re-evaluates the marker here: same answer
                lacking.add((name, req))
            elif not req.specifier.contains(found := package_set[name][0], prereleases=True):
                clashing.add((name, found, req))
        missing += [_problem(project, version, n, r) for n, r in sorted(lacking, key=str)]
        conflicts += [_problem(project, version, n, r, v) for n, v, r in sorted(clashing, key=str)]
    return DependencyCheck(problems=(*missing, *conflicts), skipped=tuple(skipped))


def _problem(
    project: str,
    version: object,
    dependency: str | None = None,
    requirement: Requirement | None = None,
    installed: Version | None = None,
) -> DependencyProblem:
    kind = "unsupported" if requirement is None else "missing" if installed is None else "conflict"
    return DependencyProblem(
        kind=DependencyProblemKind(kind),
        distribution=project,
        version=str(version),
        dependency=dependency,
        requirement=None if requirement is None else str(requirement),
        installed_version=None if installed is None else str(installed),
    )


def check_supported(
    dists: Sequence[InstalledDistribution], *, supported_tags: frozenset[str]
) -> tuple[DependencyProblem, ...]:
    """Find the distributions ``pip check`` (pip >= 24.2) calls "not supported on this platform".

    pip ``operations/check.py`` ``check_unsupported``: a distribution with a ``WHEEL`` file none
    of whose (expanded) ``Tag`` values is supported. A ``WHEEL`` without ``Tag`` lines counts
    as unsupported, as in pip (pypa/pip#12884). A malformed tag, which makes pip crash, is
    ignored here. pip prints the metadata ``Name`` as written.

    :param dists: as for :func:`check_dependencies`; pip checks only the distributions under
        ``sys.prefix`` when the target is a virtual environment (``local_only``): pass those.
    :param supported_tags: ``"cp311-cp311-manylinux_2_17_x86_64"``-style strings, as
        :func:`target_supported_tags` returns them.
    """
    problems = []
    for dist in _visible(dists):
        if dist.wheel_tags is None or dist.metadata_error or dist.canonical_name in _STDLIB_PKGS:
            continue
        found: set[str] = set()
        for line in dist.wheel_tags:
            with contextlib.suppress(ValueError):
                found.update(str(tag) for tag in tags.parse_tag(line))
        if found.isdisjoint(supported_tags):
            version = dist.version
            with contextlib.suppress(ValueError):
                version = str(Version(version))
            problems.append(_problem(dist.name, version))
    return tuple(problems)


def target_supported_tags(
    *,
    implementation: str,
    version_info: tuple[int, int],
    soabi: str | None,
    ext_suffix: str | None,
    sysconfig_platform: str,
) -> frozenset[str]:
    """The target's supported wheel tags, as pip's ``compatibility_tags.get_supported()`` finds
    them in the target (``cpython_tags`` or ``generic_tags``, then ``compatible_tags``).

    ABI: from ``EXT_SUFFIX`` else ``SOABI``, as ``packaging.tags._generic_abi`` reads it; a
    CPython debug ABI (``cp311d``) also accepts ``cp311`` (``_cpython_abis``). Platforms: the
    host's ``packaging.tags.platform_tags()`` when the target's ``sysconfig.get_platform()`` is
    the host's (same machine, same libc); otherwise *only* the normalized target platform
    (``"win_amd64"``): an approximation without manylinux/musllinux or older macOS tags, which
    can call a wheel unsupported that pip accepts.

    :param implementation: ``sys.implementation.name`` (``"cpython"``, ``"pypy"``).
    :param version_info: ``sys.version_info[:2]``.
    :param soabi: ``sysconfig.get_config_var("SOABI")`` (``"cpython-311-x86_64-linux-gnu"``).
    :param ext_suffix: ``get_config_var("EXT_SUFFIX")`` (``".cpython-311-x86_64-linux-gnu.so"``).
    :param sysconfig_platform: ``sysconfig.get_platform()`` (``"linux-x86_64"``).
    :returns: ``str(packaging.tags.Tag)`` values (``"cp311-abi3-linux_x86_64"``).
    """
    short = tags.INTERPRETER_SHORT_NAMES.get(implementation, implementation)
    interpreter = f"{short}{version_info[0]}{version_info[1]}"
    parts = (ext_suffix or "").split(".")
    raw = parts[1] if len(parts) >= 3 else (soabi or "")
    pieces = raw.split("-")
    if raw.startswith("cpython") and len(pieces) > 1:
        abi = "cp" + pieces[1]
    elif raw.startswith(("pypy", "graalpy")):
        abi = "-".join(pieces[: 3 if raw.startswith("graalpy") else 2])
    else:  # "cp311-win_amd64" on Windows, else pyston, ironpython...
        abi = pieces[0] if raw.startswith("cp") else raw
    abis = [_normalize(abi)] if abi else []  # _normalize: packaging tags._normalize_string
    if short == "cp":
        abis = abis or [interpreter]
        abis += [abis[0][:-1]] if abis[0].endswith("d") else []
    if sysconfig_platform == sysconfig.get_platform():
        platforms = list(tags.platform_tags())
    else:
        platforms = [_normalize(sysconfig_platform)]
    if short == "cp":
        specific = tags.cpython_tags(version_info, abis=abis, platforms=platforms)
    else:
        specific = tags.generic_tags(interpreter, abis=abis, platforms=platforms)
    compatible = tags.compatible_tags(version_info, interpreter, platforms)
    return frozenset(str(tag) for tag in (*specific, *compatible))


def _normalize(value: str) -> str:
    return value.replace(".", "_").replace("-", "_").replace(" ", "_")
