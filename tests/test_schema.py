"""The published JSON Schemas: generated from the model, shipped in the package, valid, accepted
by real reports from real interpreters, and as strict as ``from_dict``."""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conftest import DEBIAN_PYTHON, clean_env, cli, make_venv, report_json
from pyenvdoctor.errors import ReportFormatError
from pyenvdoctor.model import SCHEMA_VERSION, Report, WhichReport, from_dict
from pyenvdoctor.schema import SCHEMAS, load_schema, report_schema, which_schema, write_schemas

ROOT = Path(__file__).parent.parent
GOLDEN_REPORT = Path(__file__).parent / "golden" / "report.json"
SAMPLE_REPORTS = sorted(p for p in (ROOT / "sample_reports").glob("*.json") if "diff" not in p.name)
GENERATORS: dict[str, Callable[[], dict[str, Any]]] = {
    "report": report_schema,
    "which": which_schema,
}


def assert_valid(data: dict[str, Any], name: str = "report") -> None:
    """Both the packaged schema and ``from_dict`` accept ``data``."""
    jsonschema.Draft202012Validator(load_schema(name)).validate(data)
    from_dict(SCHEMAS[name], data)


def reachable_dataclasses(cls: type[Any]) -> set[type[Any]]:
    """Every dataclass a field of ``cls`` can hold, at any depth (``cls`` itself excluded)."""
    found: set[type[Any]] = set()
    pending = list(typing.get_type_hints(cls).values())
    while pending:
        tp = pending.pop()
        pending.extend(typing.get_args(tp))
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and tp not in found:
            found.add(tp)
            pending.extend(typing.get_type_hints(tp).values())
    found.discard(cls)
    return found


# --- the schemas themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_packaged_schema_is_current(name: str, tmp_path: Path) -> None:
    hint = "the model changed: run `python -m pyenvdoctor.schema` and commit the schema files"
    assert load_schema(name) == GENERATORS[name](), hint
    (written,) = (p for p in write_schemas(tmp_path) if p.name == f"{name}.schema.json")
    packaged = ROOT / "src" / "pyenvdoctor" / "schemas" / written.name
    assert packaged.read_text(encoding="utf-8") == written.read_text(encoding="utf-8"), hint


def test_write_schemas_writes_both_files(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "out")
    assert [p.name for p in written] == ["report.schema.json", "which.schema.json"]
    for path in written:
        assert path.read_text(encoding="utf-8").endswith("}\n")


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://pyenvdoctor.invalid/schema/{name}-{SCHEMA_VERSION}.json"
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("cls", [Report, WhichReport], ids=lambda c: c.__name__)
def test_every_reachable_dataclass_has_a_definition(cls: type[Any]) -> None:
    name = {v: k for k, v in SCHEMAS.items()}[cls]
    defs = load_schema(name)["$defs"]
    reachable = reachable_dataclasses(cls)
    assert reachable, "the walk found nothing: it is broken"
    assert sorted(c.__name__ for c in reachable) == sorted(defs)
    for sub in reachable:
        required = [
            f.name
            for f in dataclasses.fields(sub)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        assert defs[sub.__name__]["required"] == required
        assert set(defs[sub.__name__]["properties"]) == {f.name for f in dataclasses.fields(sub)}


def test_unknown_schema_name() -> None:
    with pytest.raises(ValueError, match="unknown schema"):
        load_schema("nope")


# --- real output validates ---------------------------------------------------------------------


def test_host_interpreter_report_validates(tmp_path: Path) -> None:
    assert_valid(report_json(sys.executable, clean_env(), tmp_path))


@pytest.mark.slow
def test_fresh_venv_report_validates(tmp_path: Path) -> None:
    venv_python = make_venv(tmp_path / "venv")
    assert_valid(report_json(venv_python, clean_env(), tmp_path))


def test_debian_system_report_validates(tmp_path: Path) -> None:
    if not DEBIAN_PYTHON.exists():
        pytest.skip("no Debian /usr/bin/python3 on this machine")
    assert_valid(report_json(DEBIAN_PYTHON, clean_env(), tmp_path))


def test_golden_report_validates() -> None:
    assert_valid(json.loads(GOLDEN_REPORT.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", SAMPLE_REPORTS, ids=lambda p: p.name)
def test_sample_report_validates(path: Path) -> None:
    assert_valid(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", ["json", "pyenvdoctor_no_such_module"])
def test_which_output_validates(name: str, tmp_path: Path) -> None:
    proc = cli("which", name, "--format", "json", env=clean_env(), cwd=tmp_path, check=False)
    data = json.loads(proc.stdout)
    assert data["found"] is (name == "json")
    assert_valid(data, "which")


# --- the schema rejects what from_dict rejects ---------------------------------------------------


def _unknown_key(data: dict[str, Any]) -> None:
    data["surprise"] = 1


def _unknown_nested_key(data: dict[str, Any]) -> None:
    data["findings"][0]["surprise"] = 1


def _version_as_int(data: dict[str, Any]) -> None:
    data["interpreter"]["version"] = 311


def _unknown_severity(data: dict[str, Any]) -> None:
    data["findings"][0]["severity"] = "fatal"


def _missing_required_key(data: dict[str, Any]) -> None:
    del data["selection"]["reason"]


def _short_version_info(data: dict[str, Any]) -> None:
    data["interpreter"]["version_info"] = data["interpreter"]["version_info"][:3]


def _bool_as_int(data: dict[str, Any]) -> None:
    data["distributions"][0]["visible"] = 1


@pytest.mark.parametrize(
    "mutate",
    [
        _unknown_key,
        _unknown_nested_key,
        _version_as_int,
        _unknown_severity,
        _missing_required_key,
        _short_version_info,
        _bool_as_int,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_schema_rejects_what_from_dict_rejects(mutate: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(GOLDEN_REPORT.read_text(encoding="utf-8"))
    assert_valid(data)
    mutate(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(load_schema()).validate(data)
    with pytest.raises(ReportFormatError):
        from_dict(Report, data)


def test_finding_code_is_an_enum_of_every_code(tmp_path: Path) -> None:
    """Issue 17: ``code`` is a closed set in the published schema (what the checks give, the
    README documents and ``--ignore`` accepts); a report naming another code is invalid."""
    from pyenvdoctor.checks import FINDING_CODES

    schema = load_schema("report")
    assert set(schema["$defs"]["Finding"]["properties"]["code"]["enum"]) == FINDING_CODES
    data = report_json(sys.executable, clean_env(), tmp_path)
    assert data["findings"], "the host venv has at least one finding to alter"
    assert_valid(data)
    data["findings"][0]["code"] = "no-such-code"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate(data)
