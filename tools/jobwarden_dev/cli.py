"""The `jobwarden` console command: the runtime's user commands plus `run`, the demo.

`reports`, `show`, `restart` and `delete` live in `jobwarden.cli` (they need nothing but the
runtime package); `run` starts a local stack, so it lives here with the development tooling.

jobwarden run [--dir DIR] [--reports DIR]   the embedded default behind `make run`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from jobwarden import cli

if TYPE_CHECKING:
    from jobwarden.cli import Subcommands


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from jobwarden_dev.localstack.embedded import run_embedded

    with tempfile.TemporaryDirectory(prefix="jobwarden-run-") as tmp:
        workdir = Path(args.dir) if args.dir else Path(tmp)
        code = run_embedded(workdir, Path(args.reports), _say)
    _say("local stack stopped")
    return code


def add_run(sub: Subcommands) -> None:
    run = sub.add_parser("run", help="the embedded default: the pipeline on demo Jobs")
    run.add_argument("--dir", help="keep the stack's files and logs here (default: temporary)")
    run.add_argument("--reports", default="reports", help="where reports go (default ./reports)")
    run.set_defaults(func=cmd_run)


def main(argv: list[str] | None = None) -> int:
    return cli.main(argv, add_run)


if __name__ == "__main__":
    raise SystemExit(main())
