"""Redaction for reports people paste in public (on by default for Markdown and JSON).

Every string of the report is rewritten, whatever field it is in:

* credentials in URLs (``https://user:token@host/simple``, RFC 3986 userinfo) -> ``https://***@host``;
* the home directory -> ``~``;
* the user name and the host name (as whole words) -> ``<user>``, ``<host>``;
* the value of any environment variable whose name looks secret (TOKEN, SECRET, PASSWORD,
  KEY, AUTH, CREDENTIAL, COOKIE, SESSION, PRIVATE, PASS, PWD) -> ``<redacted>``.

The report records which kinds it hid in :attr:`~pyenvdoctor.model.Report.redactions`.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyenvdoctor.model import from_dict, to_dict

__all__ = ["SECRET_NAME", "Redactor", "redact", "redact_text", "redacted_dict"]

#: Environment variable names whose values are hidden.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PWD|(^|_)PASS($|_)|KEY|AUTH|CREDENTIAL|COOKIE|SESSION|PRIVATE", re.I
)
#: ``scheme://userinfo@``: userinfo runs to the LAST ``@`` of the authority, as pip splits it
#: (``pip/_internal/utils/misc.py`` ``split_auth_from_netloc`` uses ``rpartition("@")``), so a
#: password holding ``@`` is hidden whole; ``scheme:/userinfo@`` too, the form ``site`` makes of
#: a ``.pth`` line when it normalises the path (``os.path.normpath`` folds ``//``).
_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]+:/{1,2})[^/?#\s]+@")

T = TypeVar("T")


@dataclass
class Redactor:
    """Rewrites strings; remembers which kinds of values it hid.

    :param home: the home directory (``None``: nothing to hide); :param user: the user name;
    :param host: the host name (short names shorter than 3 characters are not hidden: too
        many false matches).
    """

    home: str | None
    user: str | None
    host: str | None
    kinds: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # (kind, cheap substring that must occur for the rule to apply, pattern, replacement)
        self._rules: list[
            tuple[str, str, re.Pattern[str], str | Callable[[re.Match[str]], str]]
        ] = [
            ("credentials in URLs", "@", _URL_USERINFO, r"\1***@"),
        ]
        homes = {(self.home or "").rstrip("/\\")}
        if self.home:  # a HOME reached through a symlink: paths under its real location too
            homes.add(os.path.realpath(self.home).rstrip("/\\"))
        for home in sorted(homes, key=len, reverse=True):
            if len(home) > 1:
                # Whole path components only: "/tmp/x/root/lib" does not hold the home "/root".
                pattern = re.compile(r"(?<![\w.~-])" + re.escape(home) + r"(?=[/\\]|$|[^\w.-])")
                self._rules.append(("home directory", home, pattern, "~"))
        for kind, value, repl in (
            ("user name", self.user, "<user>"),
            ("host name", self.host, "<host>"),
        ):
            if value and len(value) >= 3:
                self._rules.append(
                    (
                        kind,
                        value,
                        re.compile(r"(?<![\w.-])" + re.escape(value) + r"(?![\w-])"),
                        repl,
                    )
                )

    def text(self, value: str) -> str:
        """``value`` with every rule applied."""
        for kind, needle, pattern, repl in self._rules:
            if needle not in value:
                continue
            value, n = pattern.subn(repl, value)
            if n:
                self.kinds.add(kind)
        return value

    def tree(self, value: Any, key: str | None = None, env: bool = False) -> Any:
        """Rewrite a ``to_dict`` tree; ``env``: ``value`` is the environment variables' dict."""
        if isinstance(value, str):
            if env and key is not None and SECRET_NAME.search(key):
                self.kinds.add("values of secret-looking environment variables")
                return "<redacted>"
            return self.text(value)
        if isinstance(value, list):
            return [self.tree(v) for v in value]
        if isinstance(value, dict):
            result = {}
            for k, v in value.items():
                if k == "environment_variables" and isinstance(v, dict):
                    result[k] = {ek: self.tree(ev, ek, env=True) for ek, ev in v.items()}
                else:
                    result[k] = self.tree(v, k)
            return result
        return value


def _default_identity(environ: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    home = environ.get("HOME") or os.path.expanduser("~")
    try:
        user: str | None = getpass.getuser()
    except Exception:  # no user name available
        user = None
    try:
        host: str | None = socket.gethostname().split(".")[0]
    except OSError:
        host = None
    return home, user, host


def redacted_dict(obj: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The :func:`~pyenvdoctor.model.to_dict` tree of ``obj`` with every rule applied (what
    :func:`redact` converts back; the JSON output is written from it directly).

    Where the object has a ``redactions`` field it lists the kinds of values hidden.
    """
    home, user, host = _default_identity(os.environ if environ is None else environ)
    redactor = Redactor(home=home, user=user, host=host)
    data: dict[str, Any] = redactor.tree(to_dict(obj))
    if "redactions" in data:
        data["redactions"] = sorted(redactor.kinds) or ["nothing needed hiding"]
    return data


def redact(obj: T, environ: Mapping[str, str] | None = None) -> T:
    """A redacted copy of a model object (``Report``, ``WhichReport``, ``Finding``).

    Where the object has a ``redactions`` field it lists the kinds of values hidden.
    """
    return from_dict(type(obj), redacted_dict(obj, environ))


def redact_text(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` (a rendered ``--fix`` result) with the rules of :func:`redact` applied."""
    home, user, host = _default_identity(os.environ if environ is None else environ)
    return Redactor(home=home, user=user, host=host).text(text)
