"""The files each ``.dist-info/RECORD`` lists, read once per report.

PEP 376 (as amended by PEP 627): ``RECORD`` is a CSV file, one row per installed file, whose first
field is the file's path relative to the directory holding the ``.dist-info`` (``../../../bin/x``
for a script), written by pip with :mod:`csv` (``_internal/operations/install/wheel.py``), so a
field holding a comma, a quote or a newline is quoted. Three checks ask RECORDs questions (console
script owners, extensions a wheel ships, ``.pth`` files a distribution owns); a 266-distribution
venv lists about 116,000 files, so parsing every RECORD once for all of them, and without the
:mod:`csv` module where no field is quoted, is what keeps the report within its benchmark.
"""

from __future__ import annotations

import csv
import io
import os
import re
import threading
from typing import NamedTuple

from pyenvdoctor import files

__all__ = ["Records", "searchable"]


class _Text(NamedTuple):
    """An unquoted RECORD: its text, whose rows end with ``\n`` or, when ``crlf``, with
    ``\n`` or ``\r\n`` (a lone ``\r``, also a row end for :mod:`csv`, is rewritten first)."""

    text: str
    crlf: bool


#: A ``\r`` that is not the start of ``\r\n``.
_LONE_CR = re.compile(r"\r(?!\n)")


class Records:
    """A cache of RECORD path fields, keyed by ``.dist-info`` directory.

    Thread-safe (the console-script check reads it from the report's walk thread). Not shared
    between reports: ``--fix`` builds a new report, and so a new cache, after each round.

    Each RECORD is read once; an unquoted one is kept as text, and its rows are split only
    when :meth:`paths` asks for all of them. :meth:`containing` answers the
    selective questions (the rows naming ``bin``, ``..`` or ``.pth``) with ``str.find`` over
    the text: a 266-distribution venv's RECORDs are 11.8 MB, and splitting all of them cost
    more than every other RECORD question together.
    """

    def __init__(self) -> None:
        #: dist-info -> the unquoted text, or the parsed first fields.
        self._read: dict[str, _Text | tuple[str, ...]] = {}
        self._paths: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def paths(self, dist_info: str) -> tuple[str, ...]:
        """The first field of every row of ``dist_info``/RECORD, in file order.

        :param dist_info: a ``NAME-VERSION.dist-info`` directory.
        :returns: ``()`` when the RECORD is missing, not a regular file, not UTF-8 or not CSV
            (such a distribution owns nothing the callers can tell).
        """
        # Read under the lock: the other thread asking for the same RECORD meanwhile waits for
        # this read instead of doing it again.
        with self._lock:
            cached = self._paths.get(dist_info)
            if cached is None:
                read = self._text(dist_info)
                if isinstance(read, _Text):
                    # A row's first field is what precedes its first comma; empty rows are
                    # none (csv's rules for a RECORD without quotes).
                    text = read.text.replace("\r\n", "\n") if read.crlf else read.text
                    cached = tuple(row.partition(",")[0] for row in text.split("\n") if row)
                else:
                    cached = read
                self._paths[dist_info] = self._read[dist_info] = cached  # the text is let go
        return cached

    def containing(self, dist_info: str, needle: str) -> list[str]:
        """The first fields of ``dist_info``/RECORD that contain ``needle``, in file order:
        ``[p for p in self.paths(dist_info) if needle in p]``, without splitting every row.

        :param needle: a non-empty string without ``,``, ``"``, ``\r`` or ``\n``.
        :raises ValueError: another ``needle``.
        """
        if not searchable(needle):
            raise ValueError(f"not a needle for RECORD rows: {needle!r}")
        with self._lock:
            parsed = self._paths.get(dist_info)
            read = self._text(dist_info) if parsed is None else parsed
        if not isinstance(read, _Text):
            return [p for p in read if needle in p]
        text, crlf = read
        found: list[str] = []
        find, rfind = text.find, text.rfind
        at = find(needle)
        while at != -1:
            start = rfind("\n", 0, at) + 1
            end = find("\n", at)
            if end == -1:
                end = len(text)
            comma = find(",", start, end)
            if comma == -1:
                found.append(
                    text[start : end - 1] if crlf and text[end - 1] == "\r" else text[start:end]
                )
            elif at < comma:  # the first occurrence in this row is in its field
                found.append(text[start:comma])
            at = find(needle, end)
        return found

    def _text(self, dist_info: str) -> _Text | tuple[str, ...]:
        """What :attr:`_read` holds for ``dist_info``, reading it the first time (under the
        lock)."""
        read = self._read.get(dist_info)
        if read is None:
            read = self._read[dist_info] = _read(os.path.join(dist_info, "RECORD"))
        return read


def searchable(needle: str) -> bool:
    """Whether :meth:`Records.containing` accepts ``needle``: not empty, and without ``,``,
    ``"``, ``\r`` or ``\n`` (which a path field of an unquoted row cannot hold)."""
    return bool(needle) and not any(c in needle for c in ',"\r\n')


def _read(record: str) -> _Text | tuple[str, ...]:
    """An unquoted RECORD as :class:`_Text`, else its first fields (parsed with
    :mod:`csv`; ``()`` when unreadable, not UTF-8 or not CSV)."""
    try:
        text = files.read_bytes(record).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    if '"' not in text:
        # No quoted field: rows end at \r, \n or \r\n only (csv's rules; str.splitlines
        # would also split at \x0c). Most RECORDs end their rows with \n or \r\n
        # (csv.writer's default); only one with a lone \r is rewritten.
        if "\r" not in text:
            return _Text(text, crlf=False)
        if _LONE_CR.search(text) is None:
            return _Text(text, crlf=True)
        return _Text(text.replace("\r\n", "\n").replace("\r", "\n"), crlf=False)
    try:
        return tuple(row[0] for row in csv.reader(io.StringIO(text, newline="")) if row)
    except csv.Error:
        return ()
