"""Debian and Ubuntu: which package owns each distribution in ``/usr/lib/python3/dist-packages``,
read straight from dpkg's database (no python-apt, no subprocess).

dpkg's database (``dpkg(1)`` FILES, ``deb-control(5)``, dpkg ``lib/dpkg/dbmodify.c``,
``lib/dpkg/parse.c``, ``lib/dpkg/infodb.c``):

* ``<admindir>/status``: one RFC 822-style stanza per package instance, separated by blank
  lines, continuation lines start with a space or tab. ``Status: <want> <eflag> <status>``
  (``install ok installed`` is ``ii`` in ``dpkg -l``), ``Package``, ``Architecture``,
  ``Multi-Arch``, ``Version``.
* ``<admindir>/updates/NNNN``: journal entries not yet folded into ``status``; each replaces
  its package's stanza, applied in name order (``modstatdb_init``).
* ``<admindir>/info/<package>.list`` (``<package>:<arch>.list`` for ``Multi-Arch: same``): every
  path the package installed, one per line, directories included.

The admin directory is ``DPKG_ADMINDIR`` when set (as dpkg and dpkg-query read it), else
``/var/lib/dpkg``. Only the ``.list`` files needed are read: those of installed ``python3-*``
packages first, then the other installed packages', one at a time, until every distribution has
an owner or none are left.

Debian's ``site.py`` puts ``/usr/local/lib/python3.X/dist-packages`` (where ``sudo pip``
installs) before ``/usr/lib/python3/dist-packages`` (Debian's packages), so a pip-installed copy
wins the import.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from pyenvdoctor.model import (
    DebianOwner,
    DebianShadow,
    DebianSummary,
    Distribution,
    EnvironmentKind,
    Interpreter,
    LocationClass,
)

__all__ = [
    "DEBIAN_DIST_PACKAGES",
    "DEFAULT_ADMINDIR",
    "DpkgDatabase",
    "DpkgPackage",
    "collect_debian",
    "count_python3_packages",
    "dpkg_admindir",
    "find_owners",
    "local_shadows",
    "read_externally_managed",
    "read_status",
]

#: Where Debian's ``python3-*`` packages install distributions.
DEBIAN_DIST_PACKAGES = "/usr/lib/python3/dist-packages"
#: dpkg's database directory.
DEFAULT_ADMINDIR = "/var/lib/dpkg"


@dataclass(frozen=True, kw_only=True, slots=True)
class DpkgPackage:
    """One package instance of ``status``.

    :ivar want, eflag, state: the three words of ``Status`` (``install ok installed``).
    """

    name: str
    architecture: str | None
    multi_arch: str | None
    version: str | None
    want: str
    eflag: str
    state: str

    @property
    def listed_ii(self) -> bool:
        """``dpkg -l`` shows it as ``ii``: selected for install and installed."""
        return self.want == "install" and self.state == "installed"

    @property
    def installed(self) -> bool:
        """Its files are on disk (``installed``, whatever is wanted)."""
        return self.state == "installed"

    def list_files(self) -> tuple[str, ...]:
        """Candidate names of its ``info/*.list`` file, the likely one first (dpkg
        ``pkg_infodb_get_file``: ``:<arch>`` only for ``Multi-Arch: same``)."""
        plain = f"{self.name}.list"
        if self.architecture:
            qualified = f"{self.name}:{self.architecture}.list"
            return (qualified, plain) if self.multi_arch == "same" else (plain, qualified)
        return (plain,)


def dpkg_admindir(environ: Mapping[str, str]) -> str:
    """``DPKG_ADMINDIR`` or :data:`DEFAULT_ADMINDIR`."""
    return environ.get("DPKG_ADMINDIR") or DEFAULT_ADMINDIR


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    """Fields of each stanza (first line of each value only; continuation lines skipped)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
                fields = {}
            continue
        if line[0] in " \t":
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    if fields:
        yield fields


def _package(fields: Mapping[str, str]) -> DpkgPackage | None:
    name = fields.get("package")
    status = fields.get("status", "").split()
    if not name or len(status) != 3:
        return None
    return DpkgPackage(
        name=name,
        architecture=fields.get("architecture") or None,
        multi_arch=fields.get("multi-arch") or None,
        version=fields.get("version") or None,
        want=status[0],
        eflag=status[1],
        state=status[2],
    )


def read_status(admindir: str) -> list[DpkgPackage] | None:
    """Every package instance of ``status`` with the ``updates/`` journal applied, or ``None``
    when ``status`` cannot be read (not a dpkg system)."""
    try:
        with open(os.path.join(admindir, "status"), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    packages: dict[tuple[str, str | None], DpkgPackage] = {}
    for fields in _stanzas(text):
        pkg = _package(fields)
        if pkg is not None:
            packages[pkg.name, pkg.architecture] = pkg
    updates = os.path.join(admindir, "updates")
    try:
        journal = sorted(n for n in os.listdir(updates) if n.isdigit())
    except OSError:
        journal = []
    for name in journal:
        try:
            with open(os.path.join(updates, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        for fields in _stanzas(text):
            pkg = _package(fields)
            if pkg is not None:
                packages[pkg.name, pkg.architecture] = pkg
    return list(packages.values())


def count_python3_packages(packages: Iterable[DpkgPackage]) -> int:
    """Installed ``python3-*`` packages as ``dpkg -l 'python3-*'`` lists them with ``ii``."""
    return sum(1 for p in packages if p.name.startswith("python3-") and p.listed_ii)


class DpkgDatabase:
    """Reads ``info/*.list`` files lazily to answer "which package owns this path?".

    :param admindir: dpkg's database directory.
    :param packages: the instances from :func:`read_status`.
    """

    def __init__(self, admindir: str, packages: Sequence[DpkgPackage]) -> None:
        self.admindir = admindir
        installed = [p for p in packages if p.installed]
        first = [p for p in installed if p.name.startswith("python3")]
        rest = [p for p in installed if not p.name.startswith("python3")]
        self._queue = sorted(first, key=lambda p: p.name) + sorted(rest, key=lambda p: p.name)
        self.lists_read = 0

    def _paths(self, package: DpkgPackage) -> Iterator[str]:
        for name in package.list_files():
            try:
                with open(
                    os.path.join(self.admindir, "info", name),
                    encoding="utf-8",
                    errors="surrogateescape",
                ) as f:
                    self.lists_read += 1
                    for line in f:
                        yield line.rstrip("\n")
                return
            except OSError:
                continue

    def owners(self, paths: Iterable[str]) -> dict[str, DpkgPackage]:
        """The package that lists each path (paths no package lists are left out)."""
        wanted = {p.rstrip("/") for p in paths}
        found: dict[str, DpkgPackage] = {}
        for package in self._queue:
            if len(found) == len(wanted):
                break
            for path in self._paths(package):
                if path in wanted and path not in found:
                    found[path] = package
        return found


def _in_debian_dir(d: Distribution) -> bool:
    return d.location_class is LocationClass.DEBIAN_DIST_PACKAGES or (
        posixpath.dirname(d.metadata_path.rstrip("/")) == DEBIAN_DIST_PACKAGES
    )


def find_owners(
    distributions: Iterable[Distribution], database: DpkgDatabase
) -> tuple[DebianOwner, ...]:
    """The owning package of every distribution in ``/usr/lib/python3/dist-packages``, sorted by
    distribution name."""
    debian = sorted(
        (d for d in distributions if _in_debian_dir(d)),
        key=lambda d: (d.canonical_name, d.metadata_path),
    )
    owners = database.owners(d.metadata_path for d in debian)
    result = []
    for d in debian:
        pkg = owners.get(d.metadata_path.rstrip("/"))
        result.append(
            DebianOwner(
                distribution=d.name,
                version=d.version,
                metadata_path=d.metadata_path,
                package=pkg.name if pkg else None,
                package_version=pkg.version if pkg else None,
            )
        )
    return tuple(result)


def local_shadows(
    distributions: Iterable[Distribution], owners: Iterable[DebianOwner]
) -> tuple[DebianShadow, ...]:
    """Projects installed both in ``/usr/local/lib/python3.X/dist-packages`` and by Debian, and
    which copy wins (the visible one: first on ``sys.path``)."""
    dists = list(distributions)
    package = {o.metadata_path: o.package for o in owners}
    local = {
        d.canonical_name: d for d in dists if d.location_class is LocationClass.LOCAL_DIST_PACKAGES
    }
    result = []
    for d in sorted(dists, key=lambda d: d.canonical_name):
        other = local.get(d.canonical_name)
        if other is None or not _in_debian_dir(d):
            continue
        winner = "local" if other.visible or not d.visible else "debian"
        result.append(
            DebianShadow(
                canonical_name=d.canonical_name,
                local_version=other.version,
                local_metadata_path=other.metadata_path,
                debian_version=d.version,
                debian_metadata_path=d.metadata_path,
                debian_package=package.get(d.metadata_path),
                winner=winner,
            )
        )
    return tuple(result)


def _sees_debian(interpreter: Interpreter, distributions: Sequence[Distribution]) -> bool:
    if interpreter.kind is EnvironmentKind.DEBIAN_SYSTEM:
        return True
    return any(
        d.location_class in (LocationClass.DEBIAN_DIST_PACKAGES, LocationClass.LOCAL_DIST_PACKAGES)
        for d in distributions
    )


def collect_debian(
    *,
    interpreter: Interpreter,
    distributions: Sequence[Distribution],
    environ: Mapping[str, str],
    admindir: str | None = None,
) -> DebianSummary | None:
    """dpkg's view of what the target sees, or ``None`` when the target does not use Debian's
    directories or there is no dpkg database.

    :param admindir: dpkg's database (default: :func:`dpkg_admindir`).
    """
    if not _sees_debian(interpreter, distributions):
        return None
    admindir = admindir or dpkg_admindir(environ)
    packages = read_status(admindir)
    if packages is None:
        return None
    owners = find_owners(distributions, DpkgDatabase(admindir, packages))
    major, minor = interpreter.version_info[0], interpreter.version_info[1]
    venv_package = f"python{major}.{minor}-venv"
    installed = {p.name for p in packages if p.installed}
    return DebianSummary(
        admindir=admindir,
        python3_packages=count_python3_packages(packages),
        owners=owners,
        local_shadows=local_shadows(distributions, owners),
        venv_package=venv_package,
        venv_package_installed=venv_package in installed,
        pipx_installed="pipx" in installed,
    )


def read_externally_managed(marker: str) -> str | None:
    """The ``Error`` text of a PEP 668 ``EXTERNALLY-MANAGED`` file (section
    ``[externally-managed]``, read with :mod:`configparser` as the PEP says; the untranslated
    ``Error`` key), or ``None`` when the file cannot be read or has none. Read through
    :mod:`pyenvdoctor.files` (a FIFO there does not block; issue 16)."""
    import configparser

    from pyenvdoctor import files

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(files.read_text(marker))
        return parser.get("externally-managed", "Error", fallback=None)
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
