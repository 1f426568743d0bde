"""The base model and string types of the configuration file, checked with useful messages.

A duration, a memory quantity or step, an environment variable's name, a DNS label,
a storage URL: stored as the text the user wrote (so defaults and dumps read like
the file), validated at load, parsed at use by `jobwarden.quantities`. The JSON
Schema of each is a plain string pattern, so editors check them too. A bad
environment variable name is never echoed back: it may be a pasted secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic.alias_generators import to_camel

from jobwarden.errors import ConfigError
from jobwarden.quantities import (
    DURATION_PATTERN,
    MEMORY_PATTERN,
    MEMORY_STEP_PATTERN,
    next_memory_limit,
    parse_duration,
    parse_memory,
)

ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
DNS_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
STORAGE_PATTERN = r"^(file://.+|gs://[a-z0-9][-a-z0-9_.]*[a-z0-9](/.*)?)$"
#: How the README table names each pattern's type.
TYPE_NAMES = {
    DURATION_PATTERN: "duration",
    MEMORY_PATTERN: "quantity",
    MEMORY_STEP_PATTERN: "factor or quantity",
    ENV_PATTERN: "env var name",
    DNS_PATTERN: "DNS label",
    STORAGE_PATTERN: "URL",
}


def _env_name(value: str) -> str:
    if "://" in value or not re.fullmatch(ENV_PATTERN, value):
        raise ValueError(
            "must be the name of an environment variable (letters, digits, _), not its value;"
            " secrets are read from the environment, never from the file"
        )
    return value


def _dns_label(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(DNS_PATTERN, value):
        raise ValueError(
            f"{value[:70]!r} is not a DNS label: lowercase letters, digits and '-', at most 63"
        )
    return value


def _storage_url(value: str) -> str:
    if not re.fullmatch(STORAGE_PATTERN, value):
        raise ValueError(
            f"{value[:70]!r} is not a storage URL: use file://<dir> or gs://<bucket>/<prefix>"
        )
    return value


def _memory_step(value: str) -> object:
    return next_memory_limit(2**30, value, 2**62)


def _parsed_by(parse: Callable[[str], object], pattern: str) -> BeforeValidator:
    """Run a `quantities` parser before anything else, so its own message reaches the user."""

    def check(value: object) -> object:
        if not isinstance(value, str):
            raise ValueError(f"expected a string matching {pattern}")
        try:
            parse(value)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        return value

    return BeforeValidator(check)


def _schema(pattern: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, **extra})


EnvName = Annotated[str, AfterValidator(_env_name), _schema(ENV_PATTERN)]
DnsLabel = Annotated[str, AfterValidator(_dns_label), _schema(DNS_PATTERN, maxLength=63)]
StorageUrl = Annotated[str, AfterValidator(_storage_url), _schema(STORAGE_PATTERN)]
Duration = Annotated[str, _parsed_by(parse_duration, DURATION_PATTERN), _schema(DURATION_PATTERN)]
Quantity = Annotated[str, _parsed_by(parse_memory, MEMORY_PATTERN), _schema(MEMORY_PATTERN)]
MemoryStep = Annotated[
    str, _parsed_by(_memory_step, MEMORY_STEP_PATTERN), _schema(MEMORY_STEP_PATTERN)
]


class ConfigModel(BaseModel):
    """Base of every configuration section: camelCase keys, unknown keys refused, frozen."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, alias_generator=to_camel, frozen=True
    )
