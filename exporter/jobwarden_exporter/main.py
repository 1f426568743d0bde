"""Run the exporter: `run(...)` for code, `main(argv)` for `python -m jobwarden_exporter`.

```
python -m jobwarden_exporter --cluster prod-eu --in-cluster \\
    --topic projects/P/topics/job-events [--namespace batch ...] [--label-selector team=data] \\
    [--stuck-after 1h] [--stuck-pod-after 5m] [--port 8080] \\
    [--lease-namespace jobwarden --lease-name exporter]
```

Flags win over the `exporter` section of the configuration file (`--config`, else
`JOBWARDEN_CONFIG`). Exit status: 0 after a clean stop (SIGTERM / SIGINT), 2 when the
exporter cannot start (the message names the missing permission, topic or setting).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence

from jobwarden.config import Settings, load_config
from jobwarden.errors import JobwardenError
from jobwarden.jobevent import identity_defect
from jobwarden.kubeapi import KubeApi
from jobwarden.quantities import parse_duration
from jobwarden_exporter.leader import LeaseConfig
from jobwarden_exporter.metrics import Metrics
from jobwarden_exporter.publisher import BufferedPublisher
from jobwarden_exporter.server import StatusServer
from jobwarden_exporter.service import Exporter, ExporterStartupError
from jobwarden_exporter.watcher import WatchOptions

log = logging.getLogger("jobwarden.exporter")


def watch_options(
    settings: Settings,
    cluster: str,
    *,
    namespaces: Sequence[str] | None = None,
    label_selector: str | None = None,
    stuck_after: dt.timedelta | None = None,
    stuck_pod_after: dt.timedelta | None = None,
    watch_timeout: int = 300,
    relay_events: bool = True,
) -> WatchOptions:
    """WatchOptions from the `exporter` settings, overridden by whatever is given."""
    defect = identity_defect("cluster", cluster)
    if defect:
        raise ExporterStartupError(f"--cluster: {defect}")
    exporter = settings.exporter
    return WatchOptions(
        cluster=cluster,
        namespaces=tuple(namespaces if namespaces else exporter.namespaces),
        label_selector=label_selector or exporter.label_selector,
        stuck_after=stuck_after or parse_duration(exporter.stuck_after),
        stuck_pod_after=stuck_pod_after or parse_duration(exporter.stuck_pod_after),
        watch_timeout=watch_timeout,
        relay_events=relay_events,
        missed_schedule_grace=parse_duration(exporter.missed_schedule_grace),
        no_success_after=exporter.no_success_after,
    )


def run(
    settings: Settings,
    cluster_name: str,
    api: KubeApi,
    publisher: BufferedPublisher,
    *,
    namespaces: Sequence[str] | None = None,
    label_selector: str | None = None,
    stuck_after: dt.timedelta | None = None,
    stuck_pod_after: dt.timedelta | None = None,
    lease: LeaseConfig | None = None,
    host: str = "0.0.0.0",  # noqa: S104 - probes and scrapes come from outside the pod
    port: int | None = 8080,
    watch_timeout: int = 300,
    relay_events: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Export until `stop` is set (or SIGTERM/SIGINT when run on the main thread)."""
    options = watch_options(
        settings,
        cluster_name,
        namespaces=namespaces,
        label_selector=label_selector,
        stuck_after=stuck_after,
        stuck_pod_after=stuck_pod_after,
        watch_timeout=watch_timeout,
        relay_events=relay_events,
    )
    stop = stop or threading.Event()
    check_topic = getattr(publisher.client, "check_topic", None)
    if callable(check_topic):
        warning = check_topic(publisher.topic)
        if warning:
            log.warning("%s", warning)
    exporter = Exporter(api, publisher, options, lease=lease)
    server = None
    if port is not None:
        try:
            server = StatusServer(exporter.metrics, exporter.health, host=host, port=port)
        except OSError as err:
            raise ExporterStartupError(
                f"cannot serve /healthz and /metrics on {host}:{port} ({err.strerror}); "
                "pick another --port"
            ) from err
    try:
        exporter.start()
    except BaseException:
        if server is not None:
            server.stop()
        raise
    if server is not None:
        server.start()
        log.info("serving /healthz and /metrics on %s:%d", host, server.port)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    scope = ", ".join(options.namespaces) or "all namespaces"
    log.info("exporter for cluster %s: Jobs in %s -> %s", options.cluster, scope, publisher.topic)
    try:
        stop.wait()
    finally:
        exporter.stop()
        if server is not None:
            server.stop()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m jobwarden_exporter",
        description="Watch a cluster's Jobs and publish their transitions to Pub/Sub.",
    )
    p.add_argument("--cluster", required=True, help="the cluster's name on every event")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    where.add_argument("--in-cluster", action="store_true", help="use the pod's ServiceAccount")
    p.add_argument("--context", help="kubeconfig context (default: current)")
    p.add_argument("--topic", required=True, help="projects/<project>/topics/<topic>")
    p.add_argument("--config", help="jobwarden configuration file (default: $JOBWARDEN_CONFIG)")
    p.add_argument("--namespace", action="append", dest="namespaces", help="repeat; default all")
    p.add_argument("--label-selector", help="only Jobs matching this selector, e.g. team=data")
    p.add_argument(
        "--stuck-after", help="report `stuck` past this (e.g. 1h; default exporter.stuckAfter)"
    )
    p.add_argument(
        "--stuck-pod-after",
        help="report `stuck` when a pod waits this long in a state that will not fix itself "
        "(e.g. 5m; default exporter.stuckPodAfter)",
    )
    p.add_argument("--no-events", action="store_true", help="do not relay Warning Events")
    p.add_argument("--watch-timeout", type=int, default=300, help="seconds per watch (default 300)")
    p.add_argument(
        "--buffer-size", type=int, default=10_000, help="JobEvents held while Pub/Sub is away"
    )
    p.add_argument("--host", default="0.0.0.0", help="address for /healthz, /metrics")  # noqa: S104
    p.add_argument("--port", type=int, default=8080, help="port for /healthz and /metrics (0: any)")
    p.add_argument(
        "--lease-namespace", help="enable leader election with a Lease in this namespace"
    )
    p.add_argument("--lease-name", default="jobwarden-exporter", help="the Lease's name")
    p.add_argument("--identity", help="this replica's identity (default: <hostname>_<pid>)")
    p.add_argument("--lease-duration", type=float, default=15.0, help="seconds (default 15)")
    p.add_argument("--log-level", default="INFO")
    return p


def _api(args: argparse.Namespace) -> KubeApi:
    """A client whose credentials stay valid: token files and kubeconfigs are read again."""
    from jobwarden.cluster import InClusterSource, KubeconfigSource

    source: InClusterSource | KubeconfigSource
    if args.in_cluster:
        source = InClusterSource(args.cluster)
    else:
        path = args.kubeconfig or next(
            (p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p), "~/.kube/config"
        )
        source = KubeconfigSource(path, args.context, cluster=args.cluster)
    source.current()  # no pod, a missing or broken kubeconfig: stop here (exit status 2)
    return KubeApi(source)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    from jobwarden_exporter.pubsub import PubSubClient, check_topic_name

    try:
        check_topic_name(args.topic)
        settings = load_config(args.config)
        lease = None
        if args.lease_namespace:
            duration = args.lease_duration
            lease = LeaseConfig(
                namespace=args.lease_namespace,
                name=args.lease_name,
                identity=args.identity or f"{socket.gethostname()}_{os.getpid()}",
                lease_duration=duration,
                renew_deadline=duration * 2 / 3,
                retry_period=duration * 2 / 15,
            )
        metrics = Metrics(cluster=args.cluster)
        publisher = BufferedPublisher(
            PubSubClient(), args.topic, metrics=metrics, capacity=args.buffer_size
        )
        run(
            settings,
            args.cluster,
            _api(args),
            publisher,
            namespaces=args.namespaces,
            label_selector=args.label_selector,
            stuck_after=parse_duration(args.stuck_after) if args.stuck_after else None,
            stuck_pod_after=(
                parse_duration(args.stuck_pod_after) if args.stuck_pod_after else None
            ),
            lease=lease,
            host=args.host,
            port=args.port,
            watch_timeout=args.watch_timeout,
            relay_events=not args.no_events,
        )
    except (JobwardenError, ValueError) as err:  # ValueError: inconsistent lease timings
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
