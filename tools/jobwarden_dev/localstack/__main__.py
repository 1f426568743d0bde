"""`python -m jobwarden_dev.localstack tools|up|down|status`: the local stack from a shell."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jobwarden_dev.errors import LocalStackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobwarden_dev.localstack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["tools", "up", "down", "status"],
        help="tools: build missing binaries; up: start a stack in the background; "
        "down: stop it; status: show where it is",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(".jobwarden/local"),
        help="the stack's working directory (default .jobwarden/local)",
    )
    parser.add_argument("--name", default="local", help="cluster name of the stack")
    parser.add_argument(
        "--unless-no-go",
        action="store_true",
        help="tools: without Go, and with CI unset, say so and succeed (`make test` then "
        "runs the unit tier and skips the tiers that need the stack); with CI set, fail",
    )
    args = parser.parse_args(argv)

    from jobwarden_dev.localstack.stack import LocalStack, StackInfo, stop_stack
    from jobwarden_dev.localstack.tools import ensure_tools, go_missing

    try:
        skip = args.unless_no_go and not os.environ.get("CI") and go_missing()
        if args.command == "tools" and skip:
            print(f"not building the local stack: {skip}; the integration and e2e tests skip")
        elif args.command == "tools":
            for name, path in ensure_tools().items():
                print(f"{name:24} {path}")
        elif args.command == "up":
            stopped = stop_stack(args.dir)
            if stopped:
                print(f"stopped the previous stack in {args.dir} ({', '.join(stopped)})")
            info = LocalStack(args.dir, name=args.name, detach=True).start()
            print(f"local stack '{info.name}' is up; its settings are in {args.dir / 'env'}:")
            for key, value in info.env().items():
                print(f"  {key}={value}")
            print("stop it with `make down`")
        elif args.command == "down":
            stopped = stop_stack(args.dir)
            print(f"stopped {', '.join(stopped)}" if stopped else f"no stack running in {args.dir}")
        else:
            info = StackInfo.load(args.dir)
            print(f"stack '{info.name}' at {info.server}")
            for key, value in info.env().items():
                print(f"  {key}={value}")
    except LocalStackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
