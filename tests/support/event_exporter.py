"""kubernetes-event-exporter (resmoio, the Go binary `make tools` builds) wired to a local stack.

`binary()` is the cached build: a test runs when it is there, builds it when CI is set
(so CI never skips silently), and otherwise skips saying `make tools`. `config()` is the
shipped `infra/kubernetes-event-exporter/config.yaml` with only what points it at this
stack changed (cluster name, namespace, project, topic, leader election). `start()` runs
it with its metrics server on loopback and `PUBSUB_EMULATOR_HOST` set, which its Pub/Sub
sink's client (cloud.google.com/go/pubsub v1.28.0 `NewClient`) honours: an insecure gRPC
connection, no credentials.
"""

from __future__ import annotations

import copy
import functools
import os
import socket
import subprocess
from pathlib import Path
from typing import IO, Any

import yaml

from jobwarden_dev.localstack.tools import cached_binary, ensure_tools

NAME = "kubernetes-event-exporter"
CONFIG = Path(__file__).resolve().parents[2] / "infra" / NAME / "config.yaml"


@functools.cache
def build() -> Path:
    """Build it if missing (a few minutes the first time on a machine) and return its path."""
    return ensure_tools(only=(NAME,))[NAME]


def binary() -> Path:
    """The binary for a test: cached, or built when CI is set; else the test skips."""
    import pytest

    path = cached_binary(NAME)
    if path is not None:
        return path
    if os.environ.get("CI"):
        return build()  # a failed build fails the test, naming the compiler's errors
    raise pytest.skip.Exception(f"{NAME} is not built on this machine; `make tools` builds it")


def config(
    *,
    cluster: str,
    namespace: str,
    project: str,
    topic: str,
    leader_election: bool = True,
) -> dict[str, Any]:
    """The shipped configuration pointed at one topic of one stack, scoped to `namespace`."""
    shipped = yaml.safe_load(CONFIG.read_text())
    cfg: dict[str, Any] = copy.deepcopy(shipped)
    cfg["clusterName"] = cluster
    cfg["namespace"] = namespace
    cfg["leaderElection"]["enabled"] = leader_election
    (receiver,) = cfg["receivers"]
    receiver["pubsub"].update(gcloud_project_id=project, topic=topic.rsplit("/", 1)[-1])
    return cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    path: Path,
    cfg: dict[str, Any],
    *,
    kubeconfig: str,
    pubsub_host: str,
    workdir: Path,
    log: IO[str],
    metrics_port: int = 0,
) -> subprocess.Popen[bytes]:
    """Run the exporter with `cfg` against the stack; its output goes to `log`.

    Its metrics server listens on 127.0.0.1:`metrics_port` (a free port when 0).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "config.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOOGLE_")}
    env |= {"PUBSUB_EMULATOR_HOST": pubsub_host, "HOME": str(workdir)}
    return subprocess.Popen(
        [
            str(path),
            f"-conf={conf}",
            f"-kubeconfig={kubeconfig}",
            f"-metrics-address=127.0.0.1:{metrics_port or free_port()}",
        ],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
