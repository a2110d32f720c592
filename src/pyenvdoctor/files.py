"""Reading files of the target on the host without hanging: only regular files.

A FIFO (or a character device) named ``METADATA``, ``RECORD``, ``direct_url.json``, an
``.egg-link``, ``pyvenv.cfg`` or a pip configuration file would block a plain ``open().read()``
forever (issue 16). Every host read of a target's file goes through :func:`read_bytes` or
:func:`read_text`: the file is opened with ``O_NONBLOCK`` (opening a FIFO for reading then
returns at once), checked with ``fstat`` on the open descriptor (so a file swapped between a
check and the open cannot slip through) and read only when ``S_ISREG``.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from typing import Any

__all__ = ["NotRegularFileError", "read_bytes", "read_text"]

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class NotRegularFileError(OSError):
    """The path is a FIFO, a socket or a device: not read (``IsADirectoryError`` for a
    directory, as ``open`` raises)."""


def read_bytes(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of the regular file at ``path`` (the first ``limit`` bytes when given).

    :raises IsADirectoryError: ``path`` is a directory.
    :raises NotRegularFileError: ``path`` is another kind of file (FIFO, socket, device).
    :raises OSError: it cannot be opened or read (missing, permission denied, ...).
    """
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", os.fspath(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", os.fspath(path))
        chunks = []
        left = limit
        while left is None or left > 0:
            chunk = os.read(fd, 1 << 20 if left is None else min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            if left is not None:
                left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at ``path`` (a regular file, UTF-8), parsed with :mod:`tomllib`
    (``tomli`` before 3.11), which is imported here, on the first call: most reports read no
    TOML file (no ``pyproject.toml`` where the user stands).

    :raises OSError: as :func:`read_bytes`.
    :raises ValueError: not UTF-8 (``UnicodeDecodeError``) or not TOML
        (``tomllib.TOMLDecodeError``, a ``ValueError``).
    """
    text = read_text(path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def read_text(
    path: str | os.PathLike[str], *, encoding: str = "utf-8", errors: str = "strict"
) -> str:
    """The text of the regular file at ``path``, newlines translated as ``open()`` in text
    mode does (``\\r\\n`` and ``\\r`` to ``\\n``).

    :raises UnicodeDecodeError: not ``encoding`` (with ``errors="strict"``).
    :raises OSError: as :func:`read_bytes`.
    """
    text = read_bytes(path).decode(encoding, errors)
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
