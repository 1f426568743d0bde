"""`jobwarden watch`: watch one or more clusters, report their failed Jobs, serve the pages.

```
jobwarden watch [--kubeconfig PATH] [--context NAME ...] [--cluster-name NAME]
                [--config FILE] [--reports DIR|gs://BUCKET/PREFIX] [--namespace NS ...]
                [--port 8080] [--host 127.0.0.1] [--url URL]
jobwarden watch --in-cluster --cluster-name NAME ...     (the chart's all-in-one mode)
```

Prints one start-up line (what is watched, where reports go, the pages' URL), then one line
per report: time, cluster/namespace/job, workflow, cause (the report's title), path.
Exit status: 0 after Ctrl-C / SIGTERM (stops within two seconds), 2 when it cannot start
(no kubeconfig or context, a cluster out of reach, missing permissions: the message names
the verbs and the RBAC rules that grant them, as the exporter's preflight does).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jobwarden.errors import ConfigError, JobwardenError
from jobwarden.report import Report
from jobwarden.sinks.storage import StoreResult

if TYPE_CHECKING:
    from jobwarden_watch.pipeline import Target

    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

STOP_WITHIN = 2.0  # seconds from Ctrl-C to exit


def default_kubeconfig(env: dict[str, str]) -> str:
    """$KUBECONFIG (its first entry), then ~/.kube/config."""
    first = next((p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p), None)
    return first or str(Path("~/.kube/config").expanduser())


def current_context(kubeconfig: str) -> str:
    """The kubeconfig's current-context (the name a cluster gets by default)."""
    import yaml

    path = Path(kubeconfig).expanduser()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(
            f"kubeconfig {path} does not exist; point --kubeconfig (or $KUBECONFIG) at your "
            "cluster's kubeconfig, e.g. the one `kind get kubeconfig` or `gcloud container "
            "clusters get-credentials` writes"
        ) from None
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read kubeconfig {path}: {type(err).__name__}") from None
    name = data.get("current-context") if isinstance(data, dict) else None
    if not name:
        raise ConfigError(f"kubeconfig {path} has no current-context; name one with --context")
    return str(name)


def targets_of(args: argparse.Namespace, env: dict[str, str]) -> list[Target]:
    from jobwarden_watch.pipeline import Target

    if args.in_cluster:
        return [Target(name=args.cluster_name or "in-cluster", in_cluster=True)]
    kubeconfig = args.kubeconfig or default_kubeconfig(env)
    contexts = args.contexts or [current_context(kubeconfig)]
    if args.cluster_name and len(contexts) > 1:
        raise ConfigError(
            "--cluster-name names one cluster; with several --context each cluster is named "
            "after its context"
        )
    return [
        Target(name=args.cluster_name or ctx, kubeconfig=kubeconfig, context=ctx)
        for ctx in contexts
    ]


def report_line(report: Report, result: StoreResult, storage: str) -> str:
    """The terminal line of one report: time, cluster/namespace/job, workflow, cause, path."""
    when = report.created_at.strftime("%Y-%m-%d %H:%M:%S")
    where = f"{report.cluster}/{report.namespace}/{report.job}"
    root = storage.removeprefix("file://").rstrip("/")
    path = f"{root}/{result.key}.html" if storage.startswith("file://") else result.url
    title = report.title if len(report.title) <= 120 else report.title[:119] + "…"
    return f"{when}  {where}  {report.workflow}  {title}  {path}"


def cmd_watch(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    ready: Callable[[Any], None] | None = None,
) -> int:
    from jobwarden.config import load_config
    from jobwarden_watch.pages import Pages
    from jobwarden_watch.pipeline import Watch, storage_url

    out = out or sys.stdout
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    env = dict(os.environ)
    stop = stop or threading.Event()
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            print(line, file=out, flush=True)

    try:
        settings = load_config(args.config or None, env=env)
        targets = targets_of(args, env)
        try:
            pages = Pages(args.host, args.port)
        except OSError as err:
            raise ConfigError(
                f"cannot serve the pages on {args.host}:{args.port} ({err.strerror}); "
                "pick another --port (0 picks a free one)"
            ) from err
        storage = storage_url(args.reports)
        watch = Watch(
            settings,
            targets,
            reports=args.reports,
            namespaces=args.namespaces,
            on_report=lambda report, result: say(report_line(report, result, storage)),
            base_url=(args.url or pages.url).rstrip("/") + "/files/",
            env=env,
        )
        try:
            watch.start()
        except BaseException:
            pages.stop()
            raise
    except JobwardenError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    pages.start(watch.runtime, watch.health)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    scope = ", ".join(args.namespaces or []) or "all namespaces"
    clusters = ", ".join(
        f"{t.name} (in-cluster)" if t.in_cluster else f"{t.name} (context {t.context})"
        for t in targets
    )
    say(
        f"watching Jobs in {scope} of {clusters}; reports to {storage}; "
        f"pages at {pages.url} (Ctrl-C stops)"
    )
    if ready is not None:
        ready(watch)
    try:
        stop.wait()
    finally:
        began = time.monotonic()
        watch.stop(timeout=STOP_WITHIN / 2)
        pages.stop()
        logging.getLogger("jobwarden.watch").debug("stopped in %.2fs", time.monotonic() - began)
    say("stopped")
    return 0


def add_watch(sub: Subcommands) -> None:
    p = sub.add_parser(
        "watch",
        help="watch your clusters: the whole pipeline in one process, pages on a local port",
        description="Watch Jobs in one or more clusters, report why they failed, serve the "
        "reports index and reports on a local port.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)"
    )
    where.add_argument(
        "--in-cluster", action="store_true", help="use the pod's ServiceAccount (Helm chart)"
    )
    p.add_argument(
        "--context",
        action="append",
        dest="contexts",
        help="kubeconfig context; repeat to watch several clusters (default: current-context)",
    )
    p.add_argument("--cluster-name", help="the cluster's name on reports (default: the context)")
    p.add_argument("--config", help="jobwarden configuration (default: $JOBWARDEN_CONFIG)")
    p.add_argument(
        "--reports",
        default="./reports",
        help="where reports go: a directory or gs://BUCKET/PREFIX (default ./reports; "
        "overrides sinks.storage.url)",
    )
    p.add_argument(
        "--namespace", action="append", dest="namespaces", help="repeat; default all namespaces"
    )
    p.add_argument("--port", type=int, default=8080, help="port of the pages (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address of the pages (default loopback)")
    p.add_argument(
        "--url",
        help="the URL people reach the pages at, for links in reports and webhook posts "
        "(behind a proxy, an Ingress or a Service; default http://HOST:PORT/)",
    )
    p.add_argument("--log-level", default="WARNING", help="log level of the details (stderr)")
    p.set_defaults(func=console_watch)


def console_watch(args: argparse.Namespace) -> int:
    """`cmd_watch` for the console: after a clean stop (reports stored, lines flushed), end
    the process at once. Tearing the interpreter down frees every object one by one (about
    a second of CPU, more on a busy machine) and would break the two-second promise."""
    code = cmd_watch(args)
    if code == 0:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m jobwarden_watch [flags]`: the same as `jobwarden watch [flags]`."""
    parser = argparse.ArgumentParser(prog="jobwarden")
    add_watch(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["watch", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))
