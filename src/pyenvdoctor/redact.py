"""Redaction for reports people paste in public (on by default for Markdown and JSON).

Every string of the report is rewritten, whatever field it is in:

* credentials in URLs (``https://user:token@host/simple``, RFC 3986 userinfo) -> ``https://***@host``;
  and the password of every such URL in an environment variable (``PYTHONPATH``,
  ``PIP_INDEX_URL``, ...) wherever else it appears, as ``***``: ``PYTHONPATH`` is split at
  ``:`` (``os.pathsep``), so ``PYTHONPATH=https://user:PW@host/x`` puts ``/cwd/https``,
  ``//user`` and ``/cwd/PW@host/x`` on ``sys.path``, where no URL is left to recognise;
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyenvdoctor.model import from_dict, to_dict

__all__ = [
    "MIN_SECRET",
    "SECRET_NAME",
    "Redactor",
    "redact",
    "redact_text",
    "redacted_dict",
    "url_secrets",
]

#: Environment variable names whose values are hidden.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PWD|(^|_)PASS($|_)|KEY|AUTH|CREDENTIAL|COOKIE|SESSION|PRIVATE", re.I
)
#: ``scheme://userinfo@``: userinfo runs to the LAST ``@`` of the authority, as pip splits it
#: (``pip/_internal/utils/misc.py`` ``split_auth_from_netloc`` uses ``rpartition("@")``), so a
#: password holding ``@`` is hidden whole; ``scheme:/userinfo@`` too, the form ``site`` makes of
#: a ``.pth`` line when it normalises the path (``os.path.normpath`` folds ``//``).
_URL_USERINFO = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]+:/{1,2})[^/?#\s]+@")

#: Passwords shorter than this are not hidden outside their URL (too many false matches).
MIN_SECRET = 4

T = TypeVar("T")


def url_secrets(value: str) -> set[str]:
    """The passwords of the URLs with userinfo in ``value`` (the part after the first ``:``
    of the userinfo; the whole userinfo when it has none: a token given as the user name,
    ``https://TOKEN@host``), and their pieces between ``:`` (a password holding ``:`` is split
    with ``PYTHONPATH``), each at least :data:`MIN_SECRET` characters long. User names are not
    collected: ``git`` or ``admin`` would be hidden in every path.

    >>> sorted(url_secrets("https://bob:s3:cr3tpw@host/x and http://tok3n@h"))
    ['cr3tpw', 's3:cr3tpw', 'tok3n']
    """
    found: set[str] = set()
    for match in _URL_USERINFO.finditer(value):
        userinfo = match.group(0)[len(match.group(1)) : -1]
        user, colon, password = userinfo.partition(":")
        secret = password if colon else user
        for piece in (secret, *secret.split(":")):
            if len(piece) >= MIN_SECRET:
                found.add(piece)
    return found


@dataclass
class Redactor:
    """Rewrites strings; remembers which kinds of values it hid.

    :param home: the home directory (``None``: nothing to hide); :param user: the user name;
    :param host: the host name (short names shorter than 3 characters are not hidden: too
        many false matches).
    :param secrets: strings hidden wherever they appear, as ``***`` (:func:`url_secrets` of
        the environment's values); :meth:`learn` adds more.
    """

    home: str | None
    user: str | None
    host: str | None
    kinds: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)

    def learn(self, value: str) -> None:
        """Hide the passwords of the URLs in ``value`` (an environment variable's value)
        wherever they appear from now on (:func:`url_secrets`)."""
        self.secrets |= url_secrets(value)

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
                pattern = _whole(home, r"[\w.~-]", r"(?=[/\\]|$|[^\w.-])")
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
                        _whole(value, r"[\w.-]", r"(?![\w-])"),
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
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in value:
                value = value.replace(secret, "***")
                self.kinds.add("credentials in URLs")
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


def _whole(literal: str, not_before: str, after: str) -> re.Pattern[str]:
    """``literal`` where the character before it (if any) is not in the class ``not_before``
    and ``after`` holds: ``(?<!C)LIT(?=A)`` written as ``LIT(?<!CLIT)(?=A)``, the same matches,
    but a pattern that starts with its literal, which :mod:`re` finds with a fast search
    instead of trying the lookbehind at every position (most strings of a report are paths
    holding the home directory)."""
    lit = re.escape(literal)
    return re.compile(lit + "(?<!" + not_before + lit + ")" + after)


def _default_identity(environ: Mapping[str, str]) -> tuple[str | None, str | None, str | None]:
    home = environ.get("HOME") or os.path.expanduser("~")
    try:
        user: str | None = getpass.getuser()
    except Exception:  # no user name available
        user = None
    try:
        # socket.gethostname() is gethostname(2), which glibc answers from uname(2)'s nodename
        # (sysdeps/posix/gethostname.c): the same name without importing socket (milliseconds).
        if hasattr(os, "uname"):
            host: str | None = os.uname().nodename.split(".")[0]
        else:  # pragma: no cover - Windows
            import socket

            host = socket.gethostname().split(".")[0]
    except OSError:
        host = None
    return home, user, host


def _redactor(environ: Mapping[str, str] | None) -> Redactor:
    """A :class:`Redactor` for this user and host that knows the URL passwords of
    ``environ`` (default: ``os.environ``)."""
    environ = os.environ if environ is None else environ
    home, user, host = _default_identity(environ)
    redactor = Redactor(home=home, user=user, host=host)
    for value in environ.values():
        if "@" in value:
            redactor.learn(value)
    return redactor


def redacted_dict(obj: Any, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The :func:`~pyenvdoctor.model.to_dict` tree of ``obj`` with every rule applied (what
    :func:`redact` converts back; the JSON output is written from it directly).

    The URL passwords hidden everywhere are those of ``environ`` and of the tree's own
    ``environment_variables`` (a saved report rendered again elsewhere).
    Where the object has a ``redactions`` field it lists the kinds of values hidden.
    """
    redactor = _redactor(environ)
    tree = to_dict(obj)
    variables = tree.get("environment_variables")
    if isinstance(variables, dict):
        for value in variables.values():
            if isinstance(value, str) and "@" in value:
                redactor.learn(value)
    data: dict[str, Any] = redactor.tree(tree)
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
    return _redactor(environ).text(text)
