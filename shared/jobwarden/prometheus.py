"""Each container's memory and CPU over its pod's life, from Prometheus (an adapter).

The kubelet serves cAdvisor's per-container series, which Prometheus (or Google Cloud
Managed Service for Prometheus) scrapes: `container_memory_working_set_bytes` (what the
kernel's OOM killer compares with the limit), `container_cpu_usage_seconds_total`,
`container_cpu_cfs_periods_total` and `container_cpu_cfs_throttled_periods_total`, each
labelled `namespace`, `pod`, `container`. A report asks, for all pods of one Job at once
and over the run's span, three instant queries evaluated at the run's end:

- peak working set:  max by (pod, container) (max_over_time(working_set{…}[SPAN]))
- peak CPU (cores):  max by (pod, container) (max_over_time(irate(cpu_total{…}[5m])[SPAN:STEP]))
- throttled share:   increase(throttled_periods{…}[SPAN]) / increase(periods{…}[SPAN])

A peak is as good as the scrape interval: a spike between two scrapes is not seen (the
reports say "sampled"). Errors never fail a report: `UsageUnavailableError` says why, in words
the report shows ("Prometheus at http://… answered 503 …").
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from jobwarden.config import PrometheusConfig
from jobwarden.errors import UsageUnavailableError
from jobwarden.kube.paths import NAME

if TYPE_CHECKING:
    import urllib3

__all__ = ["ContainerPeaks", "Prometheus", "label_value"]

WORKING_SET = "container_memory_working_set_bytes"
CPU_TOTAL = "container_cpu_usage_seconds_total"
CFS_PERIODS = "container_cpu_cfs_periods_total"
CFS_THROTTLED = "container_cpu_cfs_throttled_periods_total"
#: Prometheus' instant-query endpoint, under `metrics.prometheus.url` (not a Kubernetes path).
QUERY_PATH = "api/v1/query"
#: Seconds added around a run so the scrape before its start and after its end count.
MARGIN = 60
#: At most this many points per container in the CPU subquery (its step grows with the span).
CPU_POINTS = 120


@dataclass(frozen=True)
class ContainerPeaks:
    """One container's usage over its pod's life, as Prometheus sampled it."""

    memory_bytes: int | None = None
    cpu_cores: float | None = None
    throttled: float | None = None  # share of CFS periods throttled, 0..1


Peaks = dict[str, dict[str, ContainerPeaks]]  # pod -> container -> peaks


def label_value(text: str) -> str:
    """`text` as a PromQL string literal's content (backslash and quote escaped)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _regex_alternatives(names: Sequence[str]) -> str:
    """Kubernetes object names ([a-z0-9.-]: a dot is the one character to escape) as one
    anchored RE2 alternation."""
    return "|".join(n.replace(".", "\\\\.") for n in sorted(set(names)))


_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


def _default_pool() -> urllib3.PoolManager:
    global _pool
    with _pool_lock:
        if _pool is None:
            import urllib3

            _pool = urllib3.PoolManager(retries=False)
        return _pool


class Prometheus:
    """Queries one Prometheus for the containers of one cluster's pods."""

    def __init__(
        self,
        config: PrometheusConfig,
        cluster: str,
        *,
        env: Mapping[str, str],
        clock: Callable[[], dt.datetime],
        pool: urllib3.PoolManager | None = None,
        google_token: Callable[[], str] | None = None,
    ) -> None:
        self.config = config
        self.cluster = cluster
        self.env = env
        self.clock = clock
        self.pool = pool
        self._google_token = google_token
        self.queries = 0  # how many queries this client sent (reports quote it)

    @property
    def shown_url(self) -> str:
        """The URL as messages show it: without a user or password written into it."""
        parts = urlsplit(self.config.url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    @property
    def endpoint(self) -> str:
        return f"{self.config.url.rstrip('/')}/{QUERY_PATH}"

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        cfg = self.config
        if cfg.auth == "bearer":
            if cfg.token_env is not None:
                token = self.env.get(cfg.token_env, "").strip()
                where = f"environment variable {cfg.token_env}"
            else:
                path = Path(cfg.token_file or "")
                where = f"file {path}"
                try:
                    token = path.read_text().strip()
                except OSError as err:
                    raise UsageUnavailableError(
                        f"usage not available: cannot read the Prometheus token from {where} "
                        f"({err.strerror}); fix metrics.prometheus.tokenFile"
                    ) from err
            if not token:
                raise UsageUnavailableError(
                    f"usage not available: the Prometheus token ({where}) is empty; "
                    "set it or fix metrics.prometheus"
                )
            headers["Authorization"] = f"Bearer {token}"
        elif cfg.auth == "google":
            headers["Authorization"] = f"Bearer {self._google()}"
        return headers

    def _google(self) -> str:
        if self._google_token is None:
            self._google_token = _google_token_source()
        try:
            return self._google_token()
        except Exception as err:  # google.auth raises several kinds
            raise UsageUnavailableError(
                f"usage not available: no Google credentials for Managed Service for "
                f"Prometheus ({type(err).__name__}: {err}); grant the service account "
                "roles/monitoring.viewer or set metrics.prometheus.auth"
            ) from err

    def _selector(self, namespace: str, pods: Sequence[str], metric: str) -> str:
        matchers = [
            f'namespace="{label_value(namespace)}"',
            f'pod=~"{_regex_alternatives(pods)}"',
            'container!=""',
            'container!="POD"',
        ]
        if self.config.cluster_label:
            matchers.append(f'{self.config.cluster_label}="{label_value(self.cluster)}"')
        return f"{metric}{{{','.join(matchers)}}}"

    def query(self, promql: str, at: dt.datetime) -> list[dict[str, Any]]:
        """The instant vector `promql` at `at` (raises UsageUnavailableError, saying why)."""
        body = urlencode({"query": promql, "time": f"{at.timestamp():.3f}"}).encode()
        headers = {**self._headers(), "Content-Type": "application/x-www-form-urlencoded"}
        pool = self.pool or _default_pool()
        self.queries += 1
        import urllib3

        try:
            answer = pool.request(
                "POST",
                self.endpoint,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(total=self.config.timeout_seconds),
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as err:
            raise UsageUnavailableError(
                f"usage not available: Prometheus at {self.shown_url} could not be reached "
                f"({type(err).__name__}); check metrics.prometheus.url"
            ) from err
        try:
            data = json.loads(answer.data)
        except ValueError:
            data = None
        if answer.status != 200 or not isinstance(data, dict) or data.get("status") != "success":
            said = data.get("error") if isinstance(data, dict) else None
            hint = {
                401: "; check the token (metrics.prometheus.auth)",
                403: "; the credentials may not read metrics (roles/monitoring.viewer on "
                "Google Cloud)",
            }.get(answer.status, "")
            raise UsageUnavailableError(
                f"usage not available: Prometheus at {self.shown_url} answered "
                f"{answer.status}{f': {str(said)[:200]}' if said else ''}{hint}"
            )
        result = data.get("data", {}).get("result", [])
        return [r for r in result if isinstance(r, dict)]

    def peaks(
        self, namespace: str, pods: Sequence[str], start: dt.datetime, end: dt.datetime | None
    ) -> Peaks:
        """Peak memory, peak CPU and throttled share of every container of `pods` between
        `start` and `end` (None: now). Raises UsageUnavailableError. Only names that are
        Kubernetes object names are asked about (a name goes into PromQL)."""
        pods = [p for p in pods if NAME.fullmatch(p) and ".." not in p]
        if not pods:
            return {}
        now = self.clock()
        at = min((end or now) + dt.timedelta(seconds=MARGIN / 2), now)
        span = max(MARGIN, math.ceil((at - start).total_seconds()) + MARGIN)
        step = max(1, math.ceil(span / CPU_POINTS))
        by = "max by (pod, container)"
        mem = self._selector(namespace, pods, WORKING_SET)
        cpu = self._selector(namespace, pods, CPU_TOTAL)
        periods = self._selector(namespace, pods, CFS_PERIODS)
        throttled = self._selector(namespace, pods, CFS_THROTTLED)
        memory = self.query(f"{by} (max_over_time({mem}[{span}s]))", at)
        # irate: the rate between the last two samples, whatever the scrape interval; a
        # rate over a fixed window would average a pod shorter than it down to nothing
        cores = self.query(f"{by} (max_over_time(irate({cpu}[5m])[{span}s:{step}s]))", at)
        share = self.query(
            f"sum by (pod, container) (increase({throttled}[{span}s]))"
            f" / sum by (pod, container) (increase({periods}[{span}s]) > 0)",
            at,
        )
        out: dict[str, dict[str, dict[str, float]]] = {}
        for key, rows in (("memory", memory), ("cpu", cores), ("throttled", share)):
            for row in rows:
                labels = row.get("metric", {})
                value = _value(row)
                pod, container = labels.get("pod"), labels.get("container")
                if pod and container and value is not None:
                    out.setdefault(str(pod), {}).setdefault(str(container), {})[key] = value
        return {
            pod: {
                name: ContainerPeaks(
                    memory_bytes=int(v["memory"]) if "memory" in v else None,
                    cpu_cores=v.get("cpu"),
                    throttled=min(1.0, max(0.0, v["throttled"])) if "throttled" in v else None,
                )
                for name, v in containers.items()
            }
            for pod, containers in out.items()
        }


def _value(row: Mapping[str, Any]) -> float | None:
    pair = row.get("value")
    if not isinstance(pair, list) or len(pair) != 2:
        return None
    try:
        value = float(pair[1])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _google_token_source() -> Callable[[], str]:
    """Application Default Credentials with the monitoring read scope, refreshed as needed."""
    import google.auth
    import google.auth.transport.requests

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/monitoring.read"])
    lock = threading.Lock()

    def token() -> str:
        with lock:
            if not credentials.valid:
                credentials.refresh(google.auth.transport.requests.Request())  # type: ignore[no-untyped-call]
            return str(credentials.token)

    return token
