"""Pydantic models, explained to people: validation errors, JSON Schema and a Markdown table.

Generic over any model tree (the configuration uses it): an error becomes
`key.path[0].leaf: reason`, one line per problem, with unknown keys answered by the
keys that are allowed; the schema is by alias and without per-field titles; the
table lists every key with its type, default and `Field(description=...)`.
Nothing here prints an input value: pydantic's own text would.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def error_lines(err: ValidationError, model: type[BaseModel]) -> list[str]:
    """One `key.path: reason` line per problem, naming keys by alias and never the input."""
    return [_line(e, model) for e in err.errors(include_url=False, include_input=False)]


def _line(error: ErrorDetails, model: type[BaseModel]) -> str:
    loc = tuple(error["loc"])
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = _keys_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        message = f"unknown key ({hint}allowed: {', '.join(allowed)})"
    return f"{path or '(top level)'}: {message}"


def _keys_at(model: type[BaseModel] | None, loc: Iterable[str | int]) -> list[str]:
    """The keys (aliases) the model found at `loc` accepts."""
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        fields = model.model_fields
        field = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
        model = _model_in(field.annotation) if field else None
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if found := _model_in(arg):
            return found
    return None


def json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (2020-12) of `model` by alias, with field descriptions and defaults."""
    # imported here: pydantic.json_schema costs ~50 ms, and only the schema command needs it
    from pydantic.json_schema import GenerateJsonSchema

    class NoFieldTitles(GenerateJsonSchema):
        """Pydantic titles every field after its name ("Includelogs"); editors show noise."""

        def field_title_should_be_set(self, schema: Any) -> bool:
            return False

    schema = model.model_json_schema(by_alias=True, schema_generator=NoFieldTitles)
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def markdown_table(schema: dict[str, Any], type_names: Mapping[str, str] | None = None) -> str:
    """Every key of `schema` as a table row: path, type, default, description."""
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    _rows(schema, schema, "", rows, type_names or {})
    return "\n".join(rows) + "\n"


def _rows(
    root: dict[str, Any],
    node: dict[str, Any],
    prefix: str,
    rows: list[str],
    names: Mapping[str, str],
) -> None:
    node = _resolve(root, node)
    required = set(node.get("required", []))
    for key, prop in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        kind, target = _type_of(root, prop, names)
        if "default" in prop:
            default = "absent" if prop["default"] is None else f"`{json.dumps(prop['default'])}`"
        else:
            default = "required" if key in required else ""
        cells = [f"`{path}`", kind, default, prop.get("description", "")]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if target is not None:
            _rows(root, target, path + ("[]." if kind.startswith("list") else "."), rows, names)


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    resolved: dict[str, Any] = root["$defs"][ref.rsplit("/", 1)[-1]]
    return resolved


def _type_of(
    root: dict[str, Any], prop: dict[str, Any], names: Mapping[str, str]
) -> tuple[str, dict[str, Any] | None]:
    """A readable type, and the object schema to describe below it, if any."""
    options = prop.get("anyOf", [prop])
    present = [o for o in options if o.get("type") != "null"]
    suffix = " (optional)" if len(present) < len(options) else ""
    node = _resolve(root, present[0])
    if node.get("type") == "array":
        inner, target = _type_of(root, node["items"], names)
        return f"list of {inner}{suffix}", target
    if "properties" in node:
        return f"object{suffix}", node
    if "enum" in node:
        return " | ".join(json.dumps(v) for v in node["enum"]) + suffix, None
    return names.get(node.get("pattern", ""), node.get("type", "any")) + suffix, None
