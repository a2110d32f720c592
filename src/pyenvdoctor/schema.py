"""JSON Schemas (draft 2020-12) for the JSON reports, generated from the model's type hints.

The schemas describe exactly what :func:`pyenvdoctor.model.to_dict` produces and
:func:`pyenvdoctor.model.from_dict` accepts: one object per dataclass (nested ones under
``$defs``), no unknown keys, ``required`` = the fields without a default. The generated files
ship in ``pyenvdoctor/schemas/``; regenerate them with ``python -m pyenvdoctor.schema`` after
changing :mod:`pyenvdoctor.model` (a test fails when they drift).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.resources
import inspect
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Union

from pyenvdoctor.model import SCHEMA_VERSION, Report, WhichReport
from pyenvdoctor.render.json import dumps

__all__ = ["SCHEMAS", "load_schema", "main", "report_schema", "which_schema", "write_schemas"]

#: Schema name -> the model class it describes. Files are ``<name>.schema.json``.
SCHEMAS: dict[str, type[Any]] = {"report": Report, "which": WhichReport}

_DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: ``.invalid`` (RFC 2606): an identifier only, never fetched.
_ID = "https://pyenvdoctor.invalid/schema/{name}-{version}.json"
_SCALARS: dict[object, str] = {str: "string", int: "integer", bool: "boolean", type(None): "null"}


def _type_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    """The schema for one type hint; nested dataclasses are added to ``defs`` and referenced.

    :raises TypeError: a hint the model's ``from_dict`` does not support either.
    """
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        members = [_type_schema(arg, defs) for arg in args]
        if all(m.keys() == {"type"} and isinstance(m["type"], str) for m in members):
            return {"type": [m["type"] for m in members]}  # e.g. str | None
        return {"anyOf": members}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type_schema(args[0], defs)}
        items = [_type_schema(arg, defs) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"JSON object keys must be str, not {args[0]!r}")
        return {"type": "object", "additionalProperties": _type_schema(args[1], defs)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):  # before str: str enums are str too
        return {"type": "string", "enum": [member.value for member in tp]}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder first: a cycle refers to it, never recurses
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}
    raise TypeError(f"no JSON Schema for type hint {tp!r}")


#: Classes whose ``code`` field holds a finding code (:data:`pyenvdoctor.checks.FINDING_CODES`).
_CODE_FIELDS = frozenset({"Finding", "IgnoredCode"})


def _finding_codes() -> frozenset[str]:
    from pyenvdoctor.checks import FINDING_CODES

    return FINDING_CODES


def _object_schema(cls: type[Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A dataclass as a closed object: every field a property, required unless it has a default."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    properties = {f.name: _type_schema(hints[f.name], defs) for f in fields}
    if cls.__name__ in _CODE_FIELDS and "code" in properties:
        # A closed set the model types as str: every code the checks give (README table).
        properties["code"] = {"type": "string", "enum": sorted(_finding_codes())}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": [
            f.name
            for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ],
        "additionalProperties": False,
    }
    doc = inspect.getdoc(cls)
    if doc:
        schema["description"] = doc.splitlines()[0]
    return schema


def _document_schema(name: str) -> dict[str, Any]:
    """The complete schema for ``SCHEMAS[name]``: the class at the top, nested ones in ``$defs``."""
    defs: dict[str, Any] = {}
    body = _object_schema(SCHEMAS[name], defs)
    body["properties"]["schema_version"] = {"type": "string", "const": SCHEMA_VERSION}
    return {
        "$schema": _DRAFT,
        "$id": _ID.format(name=name, version=SCHEMA_VERSION),
        "title": f"pyenvdoctor {name}",
        **body,
        "$defs": defs,
    }


def report_schema() -> dict[str, Any]:
    """The JSON Schema of ``pyenvdoctor report --format json`` (:class:`~pyenvdoctor.model.Report`)."""
    return _document_schema("report")


def which_schema() -> dict[str, Any]:
    """The JSON Schema of ``pyenvdoctor which --format json`` (:class:`~pyenvdoctor.model.WhichReport`)."""
    return _document_schema("which")


def write_schemas(directory: Path) -> list[Path]:
    """Write ``report.schema.json`` and ``which.schema.json`` (sorted keys, 2-space indent,
    trailing newline) into ``directory``, creating it if needed.

    :returns: the files written, in :data:`SCHEMAS` order.
    :raises OSError: the directory or a file cannot be written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SCHEMAS:
        path = directory / f"{name}.schema.json"
        path.write_text(dumps(_document_schema(name)), encoding="utf-8")
        written.append(path)
    return written


def load_schema(name: str = "report") -> dict[str, Any]:
    """The packaged schema ``pyenvdoctor/schemas/<name>.schema.json``, parsed.

    :param name: ``report`` or ``which`` (a key of :data:`SCHEMAS`).
    :raises ValueError: an unknown name.
    """
    if name not in SCHEMAS:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMAS)}")
    resource = importlib.resources.files("pyenvdoctor").joinpath("schemas")
    schema: dict[str, Any] = json.loads(
        resource.joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    )
    return schema


def main() -> int:
    """Regenerate the packaged schema files in place (``python -m pyenvdoctor.schema``)."""
    for path in write_schemas(Path(__file__).with_name("schemas")):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
