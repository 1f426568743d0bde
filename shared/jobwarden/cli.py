"""The `jobwarden` command line.

`jobwarden run` is the embedded default behind `make run`: a local stack, the exporter,
the functions and the push bridge; demo Jobs fail; their reports are summarised.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from jobwarden.errors import JobwardenError


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    from jobwarden.localstack.embedded import run_embedded

    with tempfile.TemporaryDirectory(prefix="jobwarden-run-") as tmp:
        workdir = Path(args.dir) if args.dir else Path(tmp)
        code = run_embedded(workdir, Path(args.reports), _say)
    _say("local stack stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jobwarden", description="Know why a Kubernetes Job failed."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the embedded default: demo Jobs on a local stack")
    run.add_argument("--dir", help="keep the stack's files and logs here (default: temporary)")
    run.add_argument("--reports", default="reports", help="where reports go (default ./reports)")
    run.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except JobwardenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
