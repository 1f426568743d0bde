"""The `jobwarden` command line.

`jobwarden run` is the embedded default behind `make run`: it starts a local stack,
runs the demo Jobs to their outcomes, prints what happened and tears everything down.
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
    from jobwarden.kubeapi import KubeApi
    from jobwarden.localstack.demo import run_demo, table
    from jobwarden.localstack.stack import LocalStack

    with tempfile.TemporaryDirectory(prefix="jobwarden-run-") as tmp:
        workdir = Path(args.dir) if args.dir else Path(tmp)
        with LocalStack(workdir, name="local", progress=_say) as info:
            outcomes = run_demo(KubeApi(info.admin_credentials()), _say)
        print(table(outcomes))
    _say("local stack stopped")
    return 0 if all(o.outcome != "unfinished" for o in outcomes) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jobwarden", description="Know why a Kubernetes Job failed."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the embedded default: demo Jobs on a local stack")
    run.add_argument("--dir", help="keep the stack's files here instead of a temporary folder")
    run.set_defaults(func=cmd_run)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except JobwardenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
