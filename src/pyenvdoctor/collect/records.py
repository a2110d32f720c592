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

from pyenvdoctor import files

__all__ = ["Records"]

#: The first field of each non-empty row of an unquoted RECORD whose rows end with ``\n``.
_FIRST_FIELD = re.compile(r"^(?!$)([^,\n]*)", re.MULTILINE)


class Records:
    """A cache of RECORD path fields, keyed by ``.dist-info`` directory.

    Thread-safe (the console-script check reads it from the report's walk thread). Not shared
    between reports: ``--fix`` builds a new report, and so a new cache, after each round.
    """

    def __init__(self) -> None:
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
                cached = self._paths[dist_info] = _read(os.path.join(dist_info, "RECORD"))
        return cached


def _read(record: str) -> tuple[str, ...]:
    try:
        text = files.read_bytes(record).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return ()
    if '"' not in text:
        # No quoted field: a row's first field is what precedes its first comma, and rows end
        # at \r, \n or \r\n only (csv's rules; str.splitlines would also split at \x0c);
        # empty rows are none. One regular-expression pass (116,000 rows in the benchmark
        # venv), not a split per row.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return tuple(_FIRST_FIELD.findall(text))
    try:
        return tuple(row[0] for row in csv.reader(io.StringIO(text, newline="")) if row)
    except csv.Error:
        return ()
