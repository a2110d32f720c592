"""Installed distributions of the target, found the way pip finds them.

pip ``_internal/metadata/importlib/_envs.py`` (``Environment._iter_distributions``): walk
``sys.path`` in order; in each entry take the ``.dist-info``/``.egg-info`` directories
(``importlib.metadata.distributions(path=[entry])``), then the distributions that legacy
``.egg-link`` files in that directory point at (``setup.py develop``); the first distribution of
each canonical name (PEP 503) wins. Unlike pip we keep the later ones too, marked not visible:
two installs of one project are a finding. Metadata is read on the host with
``importlib_metadata``.
"""

from __future__ import annotations

import ast
import csv
import functools
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

import importlib_metadata
from packaging.utils import canonicalize_name

from pyenvdoctor import files
from pyenvdoctor.collect.interpreter import PathClassifier
from pyenvdoctor.collect.records import Records
from pyenvdoctor.model import Distribution

__all__ = [
    "BrokenDistribution",
    "DistributionScan",
    "Headers",
    "LoadedDistribution",
    "dangling_egg_links",
    "scan_distributions",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class BrokenDistribution:
    """A metadata directory that pip would skip (no METADATA, no Name, unreadable)."""

    metadata_path: str
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class DistributionScan:
    """What :func:`scan_distributions` found.

    :ivar distributions: every distribution, in ``sys.path`` order.
    :ivar metadata: the metadata of each (headers parsed once), aligned with ``distributions``.
    :ivar broken: metadata directories that could not be read as a distribution.
    """

    distributions: tuple[Distribution, ...]
    metadata: tuple[LoadedDistribution, ...]
    broken: tuple[BrokenDistribution, ...]


#: A header line's field name (``email.feedparser`` ``headerRE``): printable ASCII but ``:``.
_FIELD_NAME = re.compile(r"[\041-\071\073-\176]*")


class Headers:
    """The header block of a METADATA/PKG-INFO/WHEEL file (core metadata, RFC 822 style):
    ``Key: value`` lines, continuation lines starting with a space or tab.

    What :mod:`email.parser` gives for these files (they carry no RFC 2047 encoded words; it is
    what ``importlib.metadata``, and so pip, reads them with), at a fraction of the cost, by
    ``email.feedparser``'s rules (``FeedParser._parse_headers``, ``headerRE``): lines end at
    ``\n`` only (the text comes from a text-mode read, newlines translated; not at every
    :meth:`str.splitlines` boundary, which would turn ``Summary: a\u2028Requires-Dist: b``
    into a requirement pip never sees); the block ends at the first line that is neither a
    continuation, a ``From `` line (skipped) nor ``<name>:`` with ``name`` printable ASCII
    without spaces (an empty line, or anything else); ``:value`` is skipped, and so are the
    continuation lines after it or after a ``From `` line (``lastheader`` was reset). Values
    are stripped (``email`` strips only leading spaces and tabs). Keys compare
    case-insensitively; :meth:`get_all` keeps file order.
    """

    __slots__ = ("_fields",)

    def __init__(self, text: str) -> None:
        fields: dict[str, list[str]] = {}
        key = None
        end = text.find("\n\n")  # the loop stops at that empty line, if not before
        for line in (text if end < 0 else text[:end]).split("\n"):
            if not line:
                break  # the body (the long description) starts here
            if line[0] in " \t":
                if key is not None:
                    values = fields[key]
                    values[-1] += "\n" + line
                continue
            if line.startswith("From "):
                key = None  # a Unix "From " line: skipped, and so are continuations after it
                continue
            name, sep, value = line.partition(":")
            if not sep or not _FIELD_NAME.fullmatch(name):
                break  # not a header line: email.parser ends the headers here
            if not name:
                key = None  # ":value": skipped (InvalidHeaderDefect), with its continuations
                continue
            key = name.lower()
            fields.setdefault(key, []).append(value.strip())
        self._fields = fields

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        values = self._fields.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, failobj: list[str] | None = None) -> list[str] | None:
        """Every value of ``name`` in file order, or ``failobj``."""
        return list(self._fields[name.lower()]) if name.lower() in self._fields else failobj

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)


class LoadedDistribution:
    """An ``importlib_metadata`` distribution whose METADATA headers are parsed once.

    ``Distribution.metadata`` parses the whole file, long description included, with
    :mod:`email` on every access; the header block holds every field used here. Offers what
    :func:`pyenvdoctor.collect.dependencies.read_installed` reads.
    """

    def __init__(self, dist: importlib_metadata.Distribution) -> None:
        self.dist = dist
        self._path = getattr(dist, "_path", None)
        # A metadata directory on the file system (not in a zip file): read it directly.
        self._dir = os.fspath(self._path) if isinstance(self._path, Path) else None
        self._headers: Headers | None = None

    @property
    def metadata(self) -> Headers:
        """The METADATA (or PKG-INFO) headers; for a single-file ``NAME-VERSION.egg-info``
        (distutils' ``install_egg_info``, as Debian still ships some), the file itself:
        ``importlib_metadata.Distribution.metadata`` reads ``read_text("")`` last for it.

        :raises importlib_metadata.MetadataNotFound: none of them exists.
        """
        if self._headers is None:
            text = self.read_text("METADATA") or self.read_text("PKG-INFO") or self.read_text("")
            if text is None:
                raise importlib_metadata.MetadataNotFound("No package metadata was found.")
            self._headers = Headers(text)
        return self._headers

    @property
    def requires(self) -> list[str] | None:
        """``Requires-Dist`` values (an ``.egg-info``'s requires.txt as importlib_metadata
        converts it)."""
        found = self.metadata.get_all("Requires-Dist")
        if found is not None or str(self._path or "").endswith(".dist-info"):
            return found
        return self.dist.requires

    def read_text(self, filename: str) -> str | None:
        """A file of the metadata directory, or ``None``: ``PathDistribution.read_text``,
        whose ``pathlib`` text-mode read costs several times the ``open``/``read``/``close``
        done here for a directory on disk.

        :raises UnicodeDecodeError: the file is not UTF-8 (as ``read_text`` raises).
        :raises OSError: other than the absent or unreadable file that gives ``None``.
        """
        if self._dir is None:
            return self.dist.read_text(filename)
        return _read_utf8(os.path.join(self._dir, filename) if filename else self._dir)


def _read_utf8(path: str) -> str | None:
    """A file as ``open(path, encoding="utf-8").read()`` gives it (newlines translated), or
    ``None`` where ``importlib_metadata`` suppresses the error (absent, a directory, not a
    directory, permission denied)."""
    try:
        return files.read_text(path)
    except (
        FileNotFoundError,
        IsADirectoryError,
        NotADirectoryError,
        PermissionError,
        files.NotRegularFileError,  # a FIFO would block the read forever (issue 16)
    ):
        return None


def _info_path(dist: importlib_metadata.Distribution | LoadedDistribution) -> str:
    path = getattr(dist, "_path", None)  # PathDistribution keeps its directory here
    return os.fsdecode(str(path)) if path is not None else "<unknown>"


def _read(dist: LoadedDistribution, name: str) -> str | None:
    try:
        return dist.read_text(name)
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _file_url_to_path(url: str) -> str | None:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
        path = path[1:]
    return path


def _direct_url(dist: LoadedDistribution) -> dict[str, Any] | None:
    """PEP 610 ``direct_url.json`` as a dict, or ``None`` (absent or malformed, or nested
    deeper than :func:`json.loads` can decode: it raises ``RecursionError``)."""
    text = _read(dist, "direct_url.json")
    if not text:
        return None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _editable_from_direct_url(data: dict[str, Any] | None) -> str | None:
    """PEP 610: ``direct_url.json`` with ``dir_info.editable`` true names the project."""
    if (
        data is not None
        and isinstance(data.get("dir_info"), dict)
        and data["dir_info"].get("editable") is True
        and isinstance(data.get("url"), str)
    ):
        return _file_url_to_path(data["url"]) or data["url"]
    return None


def _finder_files(location: str) -> tuple[str, ...]:
    """The setuptools editable finder modules in ``location``."""
    try:
        return tuple(
            n
            for n in os.listdir(location)
            if n.startswith("__editable___") and n.endswith("_finder.py")
        )
    except OSError:
        return ()


def _editable_from_finder(finders: Sequence[str], location: str, canonical: str) -> str | None:
    """setuptools' PEP 660 finder (``__editable___<name>_<version>_finder.py``): its
    ``MAPPING`` maps import names to the project's source directories."""
    prefix = "__editable___" + canonical.replace("-", "_") + "_"
    names = [n for n in finders if n.startswith(prefix)]
    for name in sorted(names):
        try:
            tree = ast.parse(files.read_text(os.path.join(location, name), errors="replace"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            target: ast.expr
            if isinstance(node, ast.AnnAssign) and node.value is not None:
                target, value = node.target, node.value
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            else:
                continue
            if not (isinstance(target, ast.Name) and target.id == "MAPPING"):
                continue
            try:
                mapping = ast.literal_eval(value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                continue
            # A hand-edited (or hostile) MAPPING may hold other values than str paths: the
            # finder could not use them either (it joins them as paths), so they are skipped.
            paths = sorted(
                v
                for k, v in (mapping.items() if isinstance(mapping, dict) else ())
                if isinstance(k, str) and isinstance(v, str) and v and "\0" not in v
            )
            if paths:
                return os.path.dirname(paths[0]) or paths[0]
    return None


#: RECORD (PEP 376 CSV): the first path component of each unquoted row, and the separator
#: after it if any. Unquoted, a path holds no comma; rows starting with a quote go to ``csv``.
_RECORD_FIRST = re.compile(r'^(?!")([^,/\\\r\n]*)([/\\]?)', re.MULTILINE)


def _top_level(
    dist: LoadedDistribution, info: str = "", records: Records | None = None
) -> tuple[str, ...]:
    """Import names: ``top_level.txt`` if present, else inferred from RECORD the way
    ``importlib_metadata.packages_distributions()`` does (``_top_level_inferred``).

    :param records: the report's RECORD cache, to read ``info``'s RECORD from (once for every
        check that asks); a RECORD it cannot read is read here as before."""
    text = _read(dist, "top_level.txt")
    if text is not None:
        return tuple(sorted({line.strip() for line in text.splitlines() if line.strip()}))
    listed = records.paths(info) if records is not None and info else ()
    record = None if listed else _read(dist, "RECORD")
    if listed:
        firsts = {p.replace("\\", "/").partition("/")[:2] for p in listed}
    elif record is not None:
        # Only the distinct first components matter: one regex pass over the file instead of
        # a CSV parse and a split of every row (a large distribution has tens of thousands),
        # and without the existence check dist.files does per file.
        firsts = set(_RECORD_FIRST.findall(record))
        if '"' in record:
            quoted = [line for line in record.splitlines() if line.startswith('"')]
            for row in csv.reader(quoted):
                if row:
                    first, sep, _ = row[0].replace("\\", "/").partition("/")
                    firsts.add((first, sep))
    else:
        try:
            files = [str(f) for f in dist.dist.files or ()]  # installed-files.txt
        except Exception:  # a corrupt file list
            return ()
        firsts = set()
        for path in files:
            first, sep, _ = path.replace("\\", "/").partition("/")
            firsts.add((first, sep))
    names: set[str] = set()
    for first, sep in firsts:
        if (
            first in ("..", "", "__pycache__")
            or first.endswith((".dist-info", ".data", ".egg-info"))
            or first.startswith("__editable__")
        ):
            continue
        if sep:
            if first.isidentifier():
                names.add(first)
        elif first.endswith((".py", ".so", ".pyd")) or ".cpython-" in first:
            names.add(first.split(".", 1)[0])
    return tuple(sorted(names))


def _egg_link_for(name: str, site_dirs: Sequence[str]) -> str | None:
    """pip ``utils/egg_link.py`` ``egg_link_path_from_location``: a ``<name>.egg-link`` (name
    with runs of other characters than letters, digits and dots made ``-``) in a site directory;
    its first line is the project path."""
    link = re.sub("[^A-Za-z0-9.]+", "-", name) + ".egg-link"
    for site in site_dirs:
        path = os.path.join(site, link)
        if os.path.isfile(path):
            try:
                first = files.read_text(path, errors="replace").splitlines()
            except OSError:
                continue
            if first and first[0].strip() and "\0" not in first[0]:
                return os.path.normpath(os.path.join(site, first[0].strip()))
    return None


def dangling_egg_links(site_dirs: Sequence[str]) -> list[tuple[str, str]]:
    """``(egg-link file, target)`` for every ``*.egg-link`` in ``site_dirs`` whose target
    directory does not exist (pip ``find_linked`` then finds nothing there)."""
    return [
        (link, target)
        for site in site_dirs
        for link, target in _egg_links(site)
        if not os.path.isdir(target)
    ]


def _egg_links(location: str) -> list[tuple[str, str]]:
    """pip ``_DistributionFinder.find_linked``: ``(link, target)`` for each ``*.egg-link`` in
    ``location``: the first non-empty line, resolved against the link's directory."""
    try:
        names = sorted(n for n in os.listdir(location) if n.endswith(".egg-link"))
    except OSError:
        return []
    result = []
    for name in names:
        link = os.path.join(location, name)
        try:
            text = files.read_text(link, errors="replace")
        except OSError:
            continue
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        if line:
            result.append((link, os.path.normpath(os.path.join(location, line))))
    return result


def scan_distributions(
    sys_path: Sequence[str],
    classifier: PathClassifier,
    site_dirs: Sequence[str] = (),
    records: Records | None = None,
) -> DistributionScan:
    """Find every distribution on ``sys_path`` (the target's, ``''`` excluded: the probe's
    working directory is empty).

    :param site_dirs: the target's site directories, where legacy ``<name>.egg-link`` files
        mark a distribution as editable (pip ``utils/egg_link.py``).
    :param records: the report's RECORD cache (:class:`~pyenvdoctor.collect.records.Records`),
        for the import names of a distribution without ``top_level.txt``.

    Never raises for bad metadata: it lands in :attr:`DistributionScan.broken`.
    """
    seen: set[str] = set()
    visited: set[str] = set()
    rows: list[Distribution] = []
    metas: list[LoadedDistribution] = []
    broken: list[BrokenDistribution] = []

    recorded: set[str] = set()
    finder_files: dict[str, tuple[str, ...]] = {}  # listed once per location, per scan
    location_class = functools.lru_cache(maxsize=None)(classifier.classify_path)

    def add(found_in: str, raw: importlib_metadata.Distribution, link_to: str | None) -> None:
        dist = LoadedDistribution(raw)
        info = _info_path(dist)
        if info in recorded:  # reached twice: through an .egg-link and as a sys.path entry
            return
        recorded.add(info)
        try:
            headers = dist.metadata
            name = headers["Name"]
            version = headers["Version"] or ""
        except (KeyError, importlib_metadata.MetadataNotFound, FileNotFoundError):
            broken.append(BrokenDistribution(metadata_path=info, reason="no METADATA or no Name"))
            return
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            broken.append(BrokenDistribution(metadata_path=info, reason=f"unreadable: {exc}"))
            return
        if not name:
            broken.append(BrokenDistribution(metadata_path=info, reason="empty Name"))
            return
        canonical = canonicalize_name(name)
        visible = canonical not in seen
        seen.add(canonical)
        direct = _direct_url(dist)
        from_direct_url = _editable_from_direct_url(direct)
        editable_project = link_to or from_direct_url or _egg_link_for(name, site_dirs)
        via = None
        if editable_project is not None:
            via = "egg-link" if link_to or not from_direct_url else "direct_url.json"
        if editable_project is None:
            if found_in not in finder_files:
                finder_files[found_in] = _finder_files(found_in)
            editable_project = _editable_from_finder(finder_files[found_in], found_in, canonical)
            via = "editable-finder" if editable_project else None
        installer = _read(dist, "INSTALLER")
        is_dist_info = info.endswith(".dist-info")
        rows.append(
            Distribution(
                name=name,
                canonical_name=canonical,
                version=version,
                location=found_in,
                location_class=location_class(found_in),
                metadata_path=info,
                installer=installer.strip() or None if installer is not None else None,
                requested=os.path.exists(os.path.join(info, "REQUESTED")) if is_dist_info else None,
                editable=editable_project is not None,
                editable_project=editable_project,
                editable_via=via,
                top_level=_top_level(dist, info, records),
                visible=visible,
                direct_url=url if isinstance(url := (direct or {}).get("url"), str) else None,
            )
        )
        metas.append(dist)

    for entry in sys_path:
        if not entry or entry.endswith(".whl"):  # pip skips wheels on sys.path
            continue
        key = os.path.normcase(os.path.abspath(entry))
        if key in visited:
            continue
        visited.add(key)
        for dist in _distributions_in(entry):
            add(entry, dist, None)
        for _link, target in _egg_links(entry):
            for dist in _distributions_in(target):
                add(entry, dist, target)
    return DistributionScan(distributions=tuple(rows), metadata=tuple(metas), broken=tuple(broken))


class RegularFileDistribution(importlib_metadata.PathDistribution):
    """A ``PathDistribution`` of a metadata directory on disk whose files are read only when
    they are regular files (:mod:`pyenvdoctor.files`): a FIFO named RECORD or METADATA is
    treated as absent instead of blocking ``files``/``metadata`` forever (issue 16)."""

    def read_text(self, filename: str | os.PathLike[str]) -> str | None:
        return _read_utf8(os.path.join(str(self._path), os.fspath(filename)))


def _distributions_in(location: str) -> list[importlib_metadata.Distribution]:
    """The distributions ``importlib_metadata`` finds in ``location``, sorted by metadata
    path; those in a directory on disk as :class:`RegularFileDistribution`. None in a location
    that cannot be listed, or whose path holds a NUL byte (an ``.egg-link`` line: ``os.stat``
    raises ``ValueError``, no such directory can exist)."""
    if "\x00" in location:
        return []
    try:
        found = list(importlib_metadata.distributions(path=[location]))
    except (OSError, ValueError):  # ValueError: a NUL byte (an .egg-link's line, a sys.path entry)
        return []
    dists = [
        RegularFileDistribution(d._path)
        if type(d) is importlib_metadata.PathDistribution and isinstance(d._path, Path)
        else d
        for d in found
    ]
    return sorted(cast("list[importlib_metadata.Distribution]", dists), key=_info_path)
