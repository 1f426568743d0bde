"""Start and stop one local stack: a real control plane, KWOK as the kubelet, and emulators.

Order: Prometheus (scraping KWOK's emulated cAdvisor every second; started first because
it applies its targets only ~5 s after it starts) -> etcd -> kube-apiserver (RBAC,
TokenRequest/TokenReview) -> kube-controller-manager (job, cronjob, garbage-collector,
ttl-after-finished, namespace, serviceaccount) -> kube-scheduler -> KWOK with one Ready
node, its cAdvisor metrics (kwok-metrics.yaml) and the pod-log agent -> pstest (Pub/Sub)
and fake-gcs-server (Cloud Storage); the stack is ready once Prometheus has scraped KWOK.
Every port is picked free at start, so stacks run side by side. `StackInfo` (written to
`<workdir>/stack.json`) says how to reach each part.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from types import TracebackType

import urllib3

from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden_dev.errors import LocalStackError
from jobwarden_dev.localstack.pki import create_pki
from jobwarden_dev.localstack.processes import (
    Process,
    free_ports,
    process_start_time,
    stop_pid,
    tcp_open,
    wait_until,
)
from jobwarden_dev.localstack.tools import KWOK_VERSION, STACK_TOOLS, ensure_tools, repo_root

NODE_NAME = "kwok-node-0"
PUBSUB_PROJECT = "jobwarden-local"
START_TIMEOUT = 90.0
#: Where KWOK serves the node's cAdvisor metrics (kwok-metrics.yaml; kubelet: /metrics/cadvisor).
CADVISOR_PATH = f"/metrics/nodes/{NODE_NAME}/metrics/cadvisor"
SCRAPE_INTERVAL = "1s"
#: What the thousand-pod benchmarks scrape at (a cluster's usual interval): KWOK evaluates
#: every running pod's usage per scrape, a third of a core at 1s with 1,000 pods.
BURST_SCRAPE = "15s"
SCRAPE_JOB = "kubelet-cadvisor"

Progress = Callable[[str], None]


@dataclass
class StackInfo:
    """How to reach a running stack (serialised to `<workdir>/stack.json`)."""

    name: str
    workdir: str
    server: str
    kubeconfig: str
    ca_file: str
    admin_cert: str
    admin_key: str
    pubsub_host: str
    pubsub_project: str
    storage_host: str
    #: Prometheus' base URL; "" in a stack.json written before Prometheus joined the stack
    prometheus_url: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    starts: dict[str, int] = field(default_factory=dict)

    def admin_credentials(self) -> Credentials:
        return Credentials(
            server=self.server,
            ca_file=self.ca_file,
            cert_file=self.admin_cert,
            key_file=self.admin_key,
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point clients at this stack."""
        return {
            "KUBECONFIG": self.kubeconfig,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
            "PUBSUB_PROJECT_ID": self.pubsub_project,
            "STORAGE_EMULATOR_HOST": self.storage_host,
            **(
                {"JOBWARDEN_LOCAL_PROMETHEUS_URL": self.prometheus_url}
                if self.prometheus_url
                else {}
            ),
        }

    def save(self) -> None:
        Path(self.workdir, "stack.json").write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, workdir: Path) -> StackInfo:
        path = workdir / "stack.json"
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError as err:
            raise LocalStackError(
                f"no local stack in {workdir} (missing {path}); start one with `make up`"
            ) from err


def _kubeconfig(name: str, server: str, ca: Path, cert: Path, key: Path) -> str:
    # JSON strings are YAML strings: a stack named `y` or `no` stays a name, not a boolean
    n, admin = json.dumps(name), json.dumps(f"{name}-admin")
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {n}\n  cluster:\n    server: {json.dumps(server)}\n"
        f"    certificate-authority: {json.dumps(str(ca))}\n"
        f"users:\n- name: {admin}\n  user:\n    client-certificate: {json.dumps(str(cert))}\n"
        f"    client-key: {json.dumps(str(key))}\n"
        f"contexts:\n- name: {n}\n  context:\n    cluster: {n}\n    user: {admin}\n"
        f"current-context: {n}\n"
    )


def _kwok_crd_file(name: str) -> Path:
    """A CRD manifest from the pinned KWOK module (downloaded by `go mod download` if needed)."""
    module_dir = repo_root() / "infra" / "local" / "kwok"
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"],
        cwd=module_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise LocalStackError(f"cannot fetch sigs.k8s.io/kwok@{KWOK_VERSION}: {out.stderr.strip()}")
    return Path(json.loads(out.stdout)["Dir"]) / "kustomize" / "crd" / "bases" / name


class LocalStack:
    """One local stack in `workdir`. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        workdir: Path,
        *,
        name: str = "local",
        detach: bool = False,
        progress: Progress | None = None,
        scrape_interval: str = SCRAPE_INTERVAL,
    ) -> None:
        self.workdir = workdir.resolve()
        # KWOK evaluates every running pod's usage at each scrape: benchmarks with a
        # thousand pods scrape less often (about a third of a core at 1s for 1,000 pods)
        self.scrape_interval = scrape_interval
        self.name = name
        self.detach = detach
        self._say: Progress = progress or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.processes: list[Process] = []
        self.info: StackInfo | None = None

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> StackInfo:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_pid(process.pid)
        self.processes.clear()

    def restart_apiserver(self, *, down_for: float = 0.0) -> Process:
        """Stop kube-apiserver, wait `down_for` seconds, start it again on the same port.

        For outage tests: every client's connection breaks and its watches end, exactly as
        in a control-plane upgrade. etcd keeps the data; controllers and KWOK reconnect.
        """
        if self.info is None:
            raise LocalStackError("the stack is not running; start() it first")
        old = next((p for p in self.processes if p.name == "kube-apiserver"), None)
        if old is None:
            raise LocalStackError(f"stack {self.name} has no kube-apiserver process to restart")
        self._say(f"[{self.name}] stopping kube-apiserver (pid {old.pid}) for {down_for:.1f}s")
        stop_pid(old.pid)
        self.processes.remove(old)
        time.sleep(down_for)
        new = self._spawn(old.name, old.argv)
        api = KubeApi(self.info.admin_credentials(), timeout=5.0)
        wait_until(
            lambda: api.text("/readyz") == "ok",
            what="waiting for the restarted kube-apiserver /readyz",
            timeout=START_TIMEOUT,
            process=new,
        )
        self._say(f"[{self.name}] kube-apiserver is back (pid {new.pid})")
        return new

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        process = Process(
            name, argv, self.workdir / "logs" / f"{name}.log", detach=self.detach, env=env
        )
        self.processes.append(process)
        if self.info is not None:
            self.info.pids[name] = process.pid
            self.info.starts[name] = process_start_time(process.pid) or 0
            self.info.save()
        return process

    def _start(self) -> StackInfo:
        started = time.monotonic()
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        bins = ensure_tools(self._say, only=STACK_TOOLS)
        pki = create_pki(self.workdir / "pki")
        (
            etcd_port,
            peer_port,
            api_port,
            kcm_port,
            sched_port,
            kwok_port,
            ps_port,
            gcs_port,
            prom_port,
        ) = free_ports(9)
        server = f"https://127.0.0.1:{api_port}"
        prometheus_url = f"http://127.0.0.1:{prom_port}"
        kubeconfig = self.workdir / "kubeconfig"
        kubeconfig.write_text(
            _kubeconfig(self.name, server, pki.ca_cert, pki.admin_cert, pki.admin_key)
        )
        kubeconfig.chmod(0o600)
        self.info = StackInfo(
            name=self.name,
            workdir=str(self.workdir),
            server=server,
            kubeconfig=str(kubeconfig),
            ca_file=str(pki.ca_cert),
            admin_cert=str(pki.admin_cert),
            admin_key=str(pki.admin_key),
            pubsub_host=f"127.0.0.1:{ps_port}",
            pubsub_project=PUBSUB_PROJECT,
            storage_host=f"http://127.0.0.1:{gcs_port}",
            prometheus_url=prometheus_url,
        )
        self.info.save()
        http = urllib3.PoolManager(cert_reqs="CERT_NONE", retries=False, timeout=2.0)

        # First, though it is needed last: Prometheus applies its targets ~5 s after it
        # starts (the scrape manager's discovery-reload interval), which the control plane's
        # start-up then hides. Until KWOK listens, its scrapes just fail.
        self._say(f"[{self.name}] starting Prometheus on :{prom_port}")
        prometheus = self._spawn(
            "prometheus",
            [
                str(bins["prometheus"]),
                f"--config.file={self._prometheus_config(kwok_port)}",
                f"--storage.tsdb.path={self.workdir / 'prometheus'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
        )

        self._say(f"[{self.name}] starting etcd on :{etcd_port}")
        etcd = self._spawn(
            "etcd",
            [
                str(bins["etcd"]),
                "--name=node0",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=node0=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--auto-compaction-retention=1",
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ],
        )
        wait_until(
            lambda: (
                b'"health":"true"'
                in http.request("GET", f"http://127.0.0.1:{etcd_port}/health").data
            ),
            what="waiting for etcd /health",
            timeout=START_TIMEOUT,
            process=etcd,
        )

        self._say(f"[{self.name}] starting kube-apiserver on :{api_port}")
        apiserver = self._spawn(
            "kube-apiserver",
            [
                str(bins["kube-apiserver"]),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                f"--secure-port={api_port}",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki.apiserver_cert}",
                f"--tls-private-key-file={pki.apiserver_key}",
                f"--client-ca-file={pki.ca_cert}",
                "--authorization-mode=Node,RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_public}",
                f"--service-account-signing-key-file={pki.sa_private}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--kubelet-preferred-address-types=InternalIP,Hostname",
                f"--kubelet-client-certificate={pki.admin_cert}",
                f"--kubelet-client-key={pki.admin_key}",
                "--enable-priority-and-fairness=false",
                f"--cert-dir={self.workdir / 'apiserver-certs'}",
                "--v=0",
            ],
        )
        api = KubeApi(self.info.admin_credentials(), timeout=10.0)
        wait_until(
            lambda: api.text("/readyz") == "ok",
            what="waiting for kube-apiserver /readyz",
            timeout=START_TIMEOUT,
            process=apiserver,
        )

        self._say(f"[{self.name}] starting kube-controller-manager and kube-scheduler")
        kcm = self._spawn(
            "kube-controller-manager",
            [
                str(bins["kube-controller-manager"]),
                f"--kubeconfig={kubeconfig}",
                "--controllers=job-controller,cronjob-controller,garbage-collector-controller,"
                "ttl-after-finished-controller,namespace-controller,serviceaccount-controller",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                "--concurrent-job-syncs=10",
                "--v=0",
            ],
        )
        scheduler = self._spawn(
            "kube-scheduler",
            [
                str(bins["kube-scheduler"]),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--v=0",
            ],
        )

        def healthy(port: int) -> Callable[[], bool]:
            def check() -> bool:
                # their serving certs are self-signed in their cert dirs: only liveness matters
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    return http.request("GET", f"https://127.0.0.1:{port}/healthz").status == 200

            return check

        for proc, port in ((kcm, kcm_port), (scheduler, sched_port)):
            wait_until(
                healthy(port),
                what=f"waiting for {proc.name} /healthz",
                timeout=START_TIMEOUT,
                process=proc,
            )

        self._say(f"[{self.name}] starting KWOK (node {NODE_NAME}) and the pod-log agent")
        api.create(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            _load_yaml(_kwok_crd_file("kwok.x-k8s.io_logs.yaml")),
        )
        wait_until(
            lambda: "items" in api.get("/apis/kwok.x-k8s.io/v1alpha1/logs"),
            what="waiting for the KWOK Logs CRD",
            timeout=START_TIMEOUT,
        )
        # The emulated cAdvisor (Metric, ClusterResourceUsage) goes in --config beside the
        # stages, not in CRDs: the API server holds the first object created for a new CRD
        # for 2 s, which would add 2 s to every start.
        configs = []
        for name in ("kwok-stages.yaml", "kwok-metrics.yaml"):
            configs.append(self.workdir / name)
            configs[-1].write_text(
                resources.files("jobwarden_dev.localstack").joinpath(name).read_text()
            )
        kwok = self._spawn(
            "kwok",
            [
                str(bins["kwok"]),
                f"--kubeconfig={kubeconfig}",
                *(f"--config={config}" for config in configs),
                "--manage-all-nodes=true",
                "--node-name=localhost",
                "--node-ip=127.0.0.1",
                f"--node-port={kwok_port}",
                f"--server-address=127.0.0.1:{kwok_port}",
                "--enable-crds=Logs",
            ],
        )
        self._create_node(api)
        wait_until(
            lambda: _node_ready(api),
            what=f"waiting for node {NODE_NAME} to be Ready",
            timeout=START_TIMEOUT,
            process=kwok,
        )
        self._spawn(
            "pod-log-agent",
            [
                sys.executable,
                "-m",
                "jobwarden_dev.localstack.logagent",
                "--stack",
                str(self.workdir),
            ],
        )
        wait_until(
            lambda: bool(api.get("/api/v1/namespaces/default/serviceaccounts/default")),
            what="waiting for the serviceaccount controller (default/default)",
            timeout=START_TIMEOUT,
            process=kcm,
        )

        self._say(f"[{self.name}] starting pstest (Pub/Sub) and fake-gcs-server (Cloud Storage)")
        pubsub = self._spawn("pstest", [str(bins["pstestd"]), f"-port={ps_port}"])
        gcs = self._spawn(
            "fake-gcs-server",
            [
                str(bins["fake-gcs-server"]),
                "-scheme=http",
                "-host=127.0.0.1",
                f"-port={gcs_port}",
                "-backend=memory",
                f"-external-url=http://127.0.0.1:{gcs_port}",
                f"-public-host=127.0.0.1:{gcs_port}",
                "-log-level=warn",
            ],
        )
        wait_until(
            lambda: tcp_open(ps_port),
            what="waiting for pstest",
            timeout=START_TIMEOUT,
            process=pubsub,
        )
        wait_until(
            lambda: http.request("GET", f"http://127.0.0.1:{gcs_port}/storage/v1/b").status == 200,
            what="waiting for fake-gcs-server",
            timeout=START_TIMEOUT,
            process=gcs,
        )
        wait_until(
            lambda: _scraped(http, prometheus_url),
            what="waiting for Prometheus' first scrape of KWOK's cAdvisor metrics",
            timeout=START_TIMEOUT,
            process=prometheus,
        )
        for process in self.processes:
            self.info.pids[process.name] = process.pid
            self.info.starts[process.name] = process_start_time(process.pid) or 0
        self.info.save()
        self._write_env()
        self._say(f"[{self.name}] stack ready in {time.monotonic() - started:.1f}s ({server})")
        return self.info

    def _create_node(self, api: KubeApi) -> None:
        api.create(
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE_NAME,
                    "labels": {"type": "kwok", "kubernetes.io/hostname": NODE_NAME},
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                },
                "spec": {},
            },
        )
        # The TaintNodesByCondition admission plugin adds node.kubernetes.io/not-ready at
        # create time; only the node-lifecycle controller (not run here) would lift it.
        api.merge_patch(f"/api/v1/nodes/{NODE_NAME}", {"spec": {"taints": None}})

    def _prometheus_config(self, kwok_port: int) -> Path:
        """Scrape KWOK's emulated cAdvisor (every second by default), keeping its
        namespace/pod/container labels."""
        interval = self.scrape_interval
        config = {
            "global": {"scrape_interval": interval, "scrape_timeout": interval},
            "scrape_configs": [
                {
                    "job_name": SCRAPE_JOB,
                    "honor_labels": True,
                    "metrics_path": CADVISOR_PATH,
                    "static_configs": [{"targets": [f"127.0.0.1:{kwok_port}"]}],
                }
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return path

    def _write_env(self) -> None:
        assert self.info is not None
        lines = [f"{key}={value}" for key, value in self.info.env().items()]
        (self.workdir / "env").write_text("\n".join(lines) + "\n")


def _node_ready(api: KubeApi) -> bool:
    node = api.get(f"/api/v1/nodes/{NODE_NAME}")
    if node.get("spec", {}).get("taints"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in node.get("status", {}).get("conditions", [])
    )


def _scraped(http: urllib3.PoolManager, prometheus_url: str) -> bool:
    """Whether Prometheus has scraped KWOK's cAdvisor path successfully (`up` is 1)."""
    answer = http.request(
        "GET", f"{prometheus_url}/api/v1/query", fields={"query": f'up{{job="{SCRAPE_JOB}"}}'}
    )
    results = json.loads(answer.data)["data"]["result"] if answer.status == 200 else []
    return any(r["value"][1] == "1" for r in results)


def _load_yaml(path: Path) -> dict[str, object]:
    import yaml

    loaded = yaml.safe_load(path.read_text())
    if not isinstance(loaded, dict):
        raise LocalStackError(f"{path} is not a YAML mapping")
    return loaded


def stop_stack(workdir: Path) -> list[str]:
    """Stop a stack started elsewhere (`make up`), by the pids in its stack.json."""
    try:
        info = StackInfo.load(workdir)
    except LocalStackError:
        return []
    stopped = []
    for name, pid in reversed(list(info.pids.items())):
        if process_start_time(pid) == info.starts.get(name):
            stop_pid(pid)
            stopped.append(name)
    os.remove(workdir / "stack.json")
    return stopped
