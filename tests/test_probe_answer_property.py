"""Issue 16: the probe's answer is untrusted bytes (a patched ``json``, a fake interpreter, a
hostile ``sitecustomize`` writing on the answer channel). Property: any answer, made from a real
one with values replaced by arbitrary JSON anywhere in the tree, ends in an accepted answer that
the host turns into model objects without an exception, or in ``InterpreterError``; never
another exception, and within a time bound."""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pyenvdoctor import probe  # noqa: E402
from pyenvdoctor.collect.interpreter import (  # noqa: E402
    PathClassifier,
    build_interpreter,
    build_pth_files,
    build_sys_path,
    parse_probe,
    run_probe,
)
from pyenvdoctor.collect.which import _level  # noqa: E402
from pyenvdoctor.errors import InterpreterError  # noqa: E402
from pyenvdoctor.process import Finished  # noqa: E402

_REAL: dict[str, Any] = {}
_REAL_WHICH: dict[str, Any] = {}


def _real_answer() -> dict[str, Any]:
    if not _REAL:
        _REAL.update(run_probe(sys.executable).data)
    return copy.deepcopy(_REAL)


def _real_which() -> dict[str, Any]:
    if not _REAL_WHICH:
        _REAL_WHICH.update(
            run_probe(sys.executable, which="json.decoder", working_directory="/").data
        )
    return copy.deepcopy(_REAL_WHICH)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            found += _paths(v, (*prefix, i))
    return found


def _replace(tree: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return tree


def _accept_or_refuse(document: str) -> None:
    framed = ("\n" + probe.MARKER + "\n" + document + "\n").encode()
    done = Finished(
        returncode=0, stdout=b"", stderr=b"", answer=framed, timed_out=False, lingering=False
    )
    try:
        result = parse_probe("/fake/python", done)
    except InterpreterError as exc:
        assert "\n" not in str(exc)
        return
    data = result.data
    which = data.get("which")
    if which is not None:
        data = data.get("facts") or {}
    interpreter = build_interpreter(data, {})
    pth_files = build_pth_files(data)
    sys_path = list((data.get("imports") or {}).get("path") or ())
    classifier = PathClassifier(interpreter, sys_path, pth_files, {})
    build_sys_path(sys_path, classifier, str(Path.cwd()))
    for level in (which or {}).get("levels", ()):
        _level(level, classifier, "/")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
@pytest.mark.parametrize("kind", ["report", "which"])
def test_any_mutated_answer_is_accepted_or_refused_in_one_line(
    kind: str, data: st.DataObject
) -> None:
    answer: Any = _real_answer() if kind == "report" else _real_which()
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(answer)
        path = data.draw(st.sampled_from(paths))
        answer = _replace(answer, path, data.draw(json_values))
    if isinstance(answer, dict):
        answer.setdefault("probe_version", probe.PROBE_VERSION)
    started = time.monotonic()
    _accept_or_refuse(json.dumps(answer))
    assert time.monotonic() - started < 5


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_as_the_answer_is_accepted_or_refused(text: str) -> None:
    _accept_or_refuse(text)
