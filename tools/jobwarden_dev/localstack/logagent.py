"""The pod-log half of the kubelet stand-in: serve `sim.jobwarden.dev/logs` through pods/log.

KWOK answers the API server's containerLogs calls from a CRI-format file named by a
`Logs` object (kwok.x-k8s.io/v1alpha1) with the pod's name and namespace. This agent
watches pods, and for each new pod carrying the annotation writes that file and
creates the `Logs` object, so `kubectl logs` (and jobwarden) read what the test chose.
Then it marks the pod `sim.jobwarden.dev/logs-ready`; the `pod-finish` stage waits for
that mark, so a pod never ends before its log can be read, however late the agent is.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

from jobwarden.errors import ApiError, ConflictError, JobwardenError, NotFoundError
from jobwarden.kubeapi import KubeApi
from jobwarden_dev.localstack.stack import StackInfo

LOGS_ANNOTATION = "sim.jobwarden.dev/logs"
READY_ANNOTATION = "sim.jobwarden.dev/logs-ready"


def cri_lines(text: str, when: dt.datetime) -> str:
    """Render text as CRI log lines (`<RFC3339Nano> stdout F <line>`)."""
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())


class LogAgent:
    def __init__(self, api: KubeApi, directory: Path) -> None:
        self.api = api
        self.directory = directory
        self.done: set[str] = set()

    def handle(self, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata", {})
        uid = meta.get("uid", "")
        text = (meta.get("annotations") or {}).get(LOGS_ANNOTATION)
        if text is None or uid in self.done:
            return  # acts as soon as the pod exists, so the log is there before it runs
        namespace, name = meta["namespace"], meta["name"]
        path = self.directory / f"{namespace}_{name}_{uid}.log"
        path.write_text(cri_lines(text, dt.datetime.now(dt.UTC)))
        body = {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "Logs",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"logs": [{"logsFile": str(path), "previousLogsFile": str(path)}]},
        }
        try:
            self.api.create(f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/logs", body)
        except ConflictError:
            self.api.delete(f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/logs/{name}")
            self.api.create(f"/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/logs", body)
        except NotFoundError:
            return  # namespace already gone
        try:
            self.api.merge_patch(
                f"/api/v1/namespaces/{namespace}/pods/{name}",
                {"metadata": {"annotations": {READY_ANNOTATION: "true"}}},
            )
        except NotFoundError:
            return  # pod already gone
        self.done.add(uid)

    def run_forever(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                listing = self.api.get("/api/v1/pods")
                for pod in listing.get("items", []):
                    self.handle(pod)
                version = listing["metadata"]["resourceVersion"]
                for event in self.api.watch("/api/v1/pods", resourceVersion=version):
                    if event.get("type") == "ERROR":
                        break  # e.g. 410 Gone: relist
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self.handle(event["object"])
            except (ApiError, JobwardenError) as err:
                print(f"pod-log-agent: {err}; relisting in 1s", file=sys.stderr, flush=True)
                time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", type=Path, required=True, help="the stack's workdir")
    args = parser.parse_args(argv)
    info = StackInfo.load(args.stack)
    LogAgent(KubeApi(info.admin_credentials()), args.stack / "podlogs").run_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
