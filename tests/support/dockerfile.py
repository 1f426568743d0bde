"""Read a Dockerfile far enough to run its final stage's command without Docker.

Images cannot be built on the test machines, so the tests check the contract an image
relies on: the final stage's ENV (with ARG defaults and build args substituted), WORKDIR,
USER and its CMD/ENTRYPOINT, which the tests then run against the same bundle or package.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = pending + line
        pending = ""
        keyword, _, args = text.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _substitute(text: str, values: dict[str, str]) -> str:
    return _VAR.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)


def _pairs(args: str) -> list[tuple[str, str]]:
    found = re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)', args)
    return [(k, v.strip('"')) for k, v in found]


@dataclass
class Stage:
    """The final stage, as the container starts."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str = ""
    cmd: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    healthcheck: str = ""

    @property
    def argv(self) -> list[str]:
        return [*self.entrypoint, *self.cmd]


def final_stage(path: Path, build_args: dict[str, str] | None = None) -> Stage:
    given = build_args or {}
    global_args: dict[str, str] = {}
    values: dict[str, str] = {}
    stage = Stage()
    for keyword, args in instructions(path):
        if keyword == "ARG":
            name, _, default = args.partition("=")
            value = given.get(name, _substitute(default, {**global_args, **values}))
            (values if stage.base else global_args)[name] = value
        elif keyword == "FROM":
            stage = Stage(base=_substitute(args.split()[0], {**global_args, **given}))
            values = {}
        elif keyword == "ENV":
            for name, value in _pairs(args):
                stage.env[name] = _substitute(value, {**values, **stage.env})
                values[name] = stage.env[name]
        elif keyword == "WORKDIR":
            stage.workdir = _substitute(args, values)
        elif keyword == "USER":
            stage.user = args
        elif keyword == "EXPOSE":
            stage.exposed += args.split()
        elif keyword == "HEALTHCHECK":
            stage.healthcheck = args
        elif keyword in {"CMD", "ENTRYPOINT"}:
            parsed = json.loads(args)  # exec form only: a shell form would not get signals
            setattr(stage, keyword.lower(), parsed)
    return stage
