"""What a reviewer sees of a restart's new Job: names, images, resources, risky switches.

The ledger and the audit records keep this instead of the object itself, which may carry
secrets in env values, commands and arguments: only env variable names are kept, never
their values, and commands and arguments are left out. (The ledger then passes the whole
record through `jobwarden.redact.redact_json` as well.)
"""

from __future__ import annotations

from jobwarden.actions.common import JSON

_POD_SWITCHES = ("serviceAccountName", "hostNetwork", "hostPID", "hostIPC", "priorityClassName")


def _container(container: JSON, kind: str) -> JSON:
    security = container.get("securityContext") or {}
    summary: JSON = {
        "name": container.get("name"),
        "kind": kind,
        "image": container.get("image"),
        "resources": container.get("resources") or {},
        "env": sorted(str(e.get("name")) for e in container.get("env") or []),
        "envFrom": sorted(
            str((e.get("secretRef") or e.get("configMapRef") or {}).get("name"))
            for e in container.get("envFrom") or []
        ),
    }
    if security.get("privileged") or security.get("allowPrivilegeEscalation"):
        summary["privileged"] = bool(security.get("privileged"))
        summary["allowPrivilegeEscalation"] = bool(security.get("allowPrivilegeEscalation"))
    return summary


def pod_template_summary(manifest: JSON) -> JSON:
    """The reviewable part of a Job manifest's pod template (see the module docstring)."""
    spec = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = [_container(c, "init") for c in spec.get("initContainers") or []]
    containers += [_container(c, "main") for c in spec.get("containers") or []]
    switches = {k: spec[k] for k in _POD_SWITCHES if k in spec}
    return {"containers": containers, "podSpec": switches}
