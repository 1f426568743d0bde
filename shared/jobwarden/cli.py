"""The `jobwarden` command line: the user commands, which need nothing but this package.

jobwarden watch                    the whole pipeline in one process against your clusters
                                   (added by `jobwarden_watch`, an installed subcommand)
jobwarden run                      the embedded default behind `make run` (added by
                                   `jobwarden_dev.cli`, an installed subcommand)
jobwarden reports [--job NAME]     list stored reports, newest first
jobwarden reports --migrate-index  write the index entries older stored reports lack
jobwarden show ID [--format md]    print one report (md, json or html)
jobwarden restart|delete --url URL --cluster C --namespace N --name JOB
                                   call the HTTP function: show the plan, ask, confirm
                                   (--url defaults to $JOBWARDEN_RESTART_URL / _DELETE_URL)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobwarden.errors import JobwardenError

if TYPE_CHECKING:
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _store(args: argparse.Namespace) -> Any:
    from jobwarden.sinks.storage import open_store

    url = args.store or os.environ.get("JOBWARDEN_STORE") or "file://./reports"
    return open_store(url)


def cmd_reports(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.migrate_index:
        written = store.migrate_index()
        _say(f"wrote {written} index entries for stored reports that had none ({store.url})")
        return 0
    entries = store.read_index()
    shown = [
        e
        for e in entries
        if (not args.cluster or e.cluster == args.cluster)
        and (not args.namespace or e.namespace == args.namespace)
        and (not args.job or e.job == args.job)
        and (not args.workflow or e.workflow == args.workflow)
    ][: args.limit]
    if not shown:
        if not entries and store.list("index.json"):
            _say(
                "no index entries, but an index.json from an older jobwarden: run "
                "`jobwarden reports --migrate-index` once"
            )
            return 0
        _say("no reports match (is --store right? default: file://./reports)")
        return 0
    for e in shown:
        when = e.created_at.strftime("%Y-%m-%d %H:%M")
        print(f"{e.id}  {when}  {e.severity:7}  {e.cluster}/{e.namespace}/{e.job}  {e.title}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from jobwarden.render import render

    store = _store(args)
    entry = store.find_indexed(args.id)
    if entry is not None:
        path = entry.path
    else:  # not indexed (made on request, or stored before `--migrate-index`): look for it
        suffix = f"/{args.id}.json"
        path = next((k for k in store.list() if k.endswith(suffix)), "")
        if not path:
            _say(f"no report with id {args.id} (list them with `jobwarden reports`)")
            return 1
    report = store.get_report(path)
    if report is None:
        _say(f"report {args.id} is indexed at {path} but its file is missing")
        return 1
    print(render(report, args.format))
    return 0


def _post(
    url: str, body: dict[str, Any], token: str | None, id_token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if id_token:  # Cloud Run IAM reads this one and leaves Authorization to jobwarden
        headers["X-Serverless-Authorization"] = f"Bearer {id_token}"
    request = urllib.request.Request(  # noqa: S310 - the operator names the function URL
        url, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return int(response.status), dict(json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as err:
        try:
            return err.code, dict(json.loads(err.read() or b"{}"))
        except ValueError:
            return err.code, {"error": f"HTTP {err.code} from {url}"}
    except urllib.error.URLError as err:
        raise JobwardenError(f"cannot reach {url}: {err.reason}") from err


def cmd_action(args: argparse.Namespace, ask: Callable[[str], str] = input) -> int:
    env = f"JOBWARDEN_{args.command.upper()}_URL"
    url = args.url or os.environ.get(env)
    if not url:
        _say(f"{args.command}: give --url (the job_{args.command} function's URL) or set ${env}")
        return 2
    args.url = url
    token = args.token or os.environ.get("JOBWARDEN_TOKEN")
    if args.token_file:
        token = Path(args.token_file).read_text().strip()
    id_token = args.id_token or os.environ.get("JOBWARDEN_ID_TOKEN")
    body: dict[str, Any] = {
        "cluster": args.cluster,
        "namespace": args.namespace,
        "name": args.name,
    }
    if args.dry_run:
        body["dryRun"] = True
    if getattr(args, "increase_memory", False):
        body["increaseMemory"] = True
    if getattr(args, "propagation", None):
        body["propagationPolicy"] = args.propagation
    status, answer = _post(args.url, body, token, id_token)
    if status != 200:
        _say(f"{args.command} refused ({status}): {answer.get('error', answer)}")
        return 1
    if answer.get("status") != "confirmation_required":
        print(json.dumps(answer, indent=2))
        return 0
    print(f"plan ({args.command} {args.namespace}/{args.name} in cluster {args.cluster}):")
    print(json.dumps(answer.get("plan", {}), indent=2))
    print(f"confirmation valid until {answer.get('expiresAt')}")
    if not args.yes and ask("proceed? [y/N] ").strip().lower() not in ("y", "yes"):
        _say("nothing done")
        return 1
    status, done = _post(
        args.url, {**body, "confirmationToken": answer["confirmationToken"]}, token, id_token
    )
    print(json.dumps(done, indent=2))
    return 0 if status == 200 else 1


def build_parser(*extra: Callable[[Subcommands], None]) -> argparse.ArgumentParser:
    """The command line; each of `extra` adds its own subcommands (listed first)."""
    parser = argparse.ArgumentParser(
        prog="jobwarden", description="Know why a Kubernetes Job failed."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in extra:
        add(sub)
    for name, helptext, func in (
        ("reports", "list stored reports, newest first", cmd_reports),
        ("show", "print one report", cmd_show),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--store", help="file://DIR or gs://BUCKET/PREFIX (default ./reports)")
        p.set_defaults(func=func)
        if name == "show":
            p.add_argument("id", help="the report id (first column of `jobwarden reports`)")
            p.add_argument("--format", choices=["md", "json", "html"], default="md")
        else:
            for flag in ("--cluster", "--namespace", "--job", "--workflow"):
                p.add_argument(flag)
            p.add_argument("--limit", type=int, default=50)
            p.add_argument(
                "--migrate-index",
                action="store_true",
                help="write the index entries that stored reports lack (stores written "
                "before the index was a listing of index/); safe to run again",
            )
    for name in ("restart", "delete"):
        p = sub.add_parser(name, help=f"{name} a Job through the job_{name} function")
        p.add_argument(
            "--url", help=f"URL of the job_{name} function (or $JOBWARDEN_{name.upper()}_URL)"
        )
        for flag in ("--cluster", "--namespace", "--name"):
            p.add_argument(flag, required=True)
        p.add_argument("--token", help="bearer token of the target cluster (or $JOBWARDEN_TOKEN)")
        p.add_argument("--token-file", help="read the bearer token from this file")
        p.add_argument(
            "--id-token",
            help="Google ID token for Cloud Run IAM, sent as X-Serverless-Authorization "
            "(or $JOBWARDEN_ID_TOKEN; e.g. $(gcloud auth print-identity-token))",
        )
        p.add_argument(
            "--dry-run", action="store_true", help="show what would happen, change nothing"
        )
        p.add_argument("--yes", action="store_true", help="do not ask before confirming")
        if name == "restart":
            p.add_argument(
                "--increase-memory",
                action="store_true",
                help="raise the memory of OOMKilled containers (restart.memoryStep)",
            )
        else:
            p.add_argument("--propagation", choices=["Background", "Foreground", "Orphan"])
        p.set_defaults(func=cmd_action)
    return parser


COMMANDS_GROUP = "jobwarden.commands"


def installed_commands() -> list[Callable[[Subcommands], None]]:
    """The subcommands other installed packages register (entry points `jobwarden.commands`:
    `watch` from jobwarden_watch, `run` from the dev tooling); this package imports neither."""
    from importlib.metadata import entry_points

    found = sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name)
    return [e.load() for e in found]


def main(argv: list[str] | None = None, *extra: Callable[[Subcommands], None]) -> int:
    """The `jobwarden` console command; without `extra`, with the installed subcommands."""
    args = build_parser(*(extra or installed_commands())).parse_args(argv)
    try:
        return int(args.func(args))
    except JobwardenError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
