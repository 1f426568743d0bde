"""Bottlenecks and recommendations for one family, from its statistics: pure functions.

Deadline versus p95, backoffLimit versus identical failures, OOM history, image-pull and
scheduling-dominated runs, parallelism, requests versus peak usage, success rate, and a
run time that keeps growing. The Job settings a finding names (deadline, backoffLimit,
parallelism, limits) are those of the family's most recent run: what the next run uses.
"""

from __future__ import annotations

import math
from collections import Counter

from jobwarden.errors import ConfigError
from jobwarden.kube.labels import DEADLINE_EXCEEDED
from jobwarden.performance.runs import parse_cpu
from jobwarden.performance.stats import (
    SEVERITY_RANK,
    TREND_THRESHOLD,
    FamilyStats,
    Finding,
    Severity,
    fmt_seconds,
    one_in,
)
from jobwarden.quantities import format_memory, parse_memory

OOM_LOOKBACK = 10
PHASE_SHARE = 0.25  # a phase taking this share of pod time is a bottleneck
MIN_PHASE_SECONDS = 10.0
MIB = 2**20


def recommendations(s: FamilyStats) -> list[Finding]:
    """Bottlenecks and what to change, most severe first."""
    found = [
        *_deadline(s),
        *_backoff(s),
        *_oom(s),
        *_phases(s),
        *_parallelism(s),
        *_sizing_findings(s),
        *_success(s),
    ]
    if s.trend.direction == "slower" and (s.trend.change_pct or 0) >= 2 * TREND_THRESHOLD:
        found.append(Finding("warning", "trend", f"Runs are {s.trend.describe()}."))
    return sorted(found, key=lambda f: SEVERITY_RANK[f.severity])


def _suggest_deadline(s: FamilyStats) -> int:
    target = max((s.p95 or 0) * 1.25, s.max or 0)
    return int(math.ceil(target / 60.0) * 60)


def _deadline(s: FamilyStats) -> list[Finding]:
    deadline = s.runs[-1].active_deadline_seconds
    timed = [r for r in s.runs if r.duration_seconds is not None]
    if s.p95 is None or not timed:
        return []
    if deadline is None:
        return [
            Finding(
                "info",
                "deadline",
                f"No activeDeadlineSeconds: a hung run never ends. p95 is "
                f"{fmt_seconds(s.p95)}; a deadline of {_suggest_deadline(s)}s would stop "
                "hung runs without killing healthy ones.",
            )
        ]
    killed = [
        r for r in timed if r.reason == DEADLINE_EXCEEDED or (r.duration_seconds or 0) > deadline
    ]
    if deadline < s.p95:
        return [
            Finding(
                "error" if len(killed) * 2 >= len(timed) else "warning",
                "deadline",
                f"activeDeadlineSeconds {deadline} is below p95 of {s.p95:.0f}s: "
                f"{one_in(max(len(killed), 1), len(timed))} runs will be killed at the deadline "
                f"({len(killed)} of {len(timed)} in this window). Raise it to at least "
                f"{_suggest_deadline(s)}s or make the runs faster.",
            )
        ]
    if killed:
        return [
            Finding(
                "warning",
                "deadline",
                f"{len(killed)} of {len(timed)} runs hit activeDeadlineSeconds {deadline} "
                f"(p95 {s.p95:.0f}s): raise it to {_suggest_deadline(s)}s if those runs "
                "were healthy but slow.",
            )
        ]
    if s.p95 > 0.8 * deadline:
        return [
            Finding(
                "info",
                "deadline",
                f"p95 of {s.p95:.0f}s is {s.p95 / deadline:.0%} of activeDeadlineSeconds "
                f"{deadline}: little headroom if runs get slower.",
            )
        ]
    return []


def _backoff(s: FamilyStats) -> list[Finding]:
    limit = s.runs[-1].backoff_limit
    same = [r for r in s.runs if r.outcome == "failed" and r.identical_retries and r.retries > 1]
    if not same or limit is None or limit < 1:
        return []
    causes = Counter(r.cause or r.reason or "the same error" for r in same)
    cause, _ = causes.most_common(1)[0]
    wasted = sum(r.retries - 1 for r in same)
    return [
        Finding(
            "warning",
            "backoff",
            f"backoffLimit {limit} while every retry failed the same way ({cause}) in "
            f"{len(same)} of {s.failed} failed runs: {wasted} retries only delayed the failure. "
            "Lower backoffLimit, or add a podFailurePolicy rule with action FailJob for this "
            "exit code.",
        )
    ]


def _oom(s: FamilyStats) -> list[Finding]:
    recent = s.runs[-OOM_LOOKBACK:]
    ooms = [r for r in recent if r.oom_killed]
    if not ooms:
        return []
    containers = Counter(c for r in ooms for c in r.oom_containers)
    name = containers.most_common(1)[0][0] if containers else None
    limit = s.runs[-1].limits.get(name or "", {}).get("memory") if name else None
    advice = "raise the memory limit"
    if name and limit:
        try:
            bigger = format_memory(math.ceil(parse_memory(limit) * 1.5 / MIB) * MIB)
            advice = f"raise the memory limit of `{name}` from {limit} to about {bigger}"
        except ConfigError:
            advice = f"raise the memory limit of `{name}` above {limit}"
    elif name:
        advice = f"set a memory limit and request for `{name}` sized from its peak use"
    severity: Severity = "error" if len(ooms) * 2 >= len(recent) else "warning"
    return [
        Finding(
            severity,
            "oom",
            f"{len(ooms)} of the last {len(recent)} runs OOMKilled: {advice}.",
        )
    ]


def _phases(s: FamilyStats) -> list[Finding]:
    out = []
    timed = [r for r in s.runs if r.pulling_seconds is not None and r.running_seconds is not None]
    pull_bound = [
        r
        for r in timed
        if (r.pulling_seconds or 0) >= MIN_PHASE_SECONDS
        and (r.pulling_seconds or 0) > (r.running_seconds or 0)
    ]
    if pull_bound or (
        s.share(s.pulling_seconds) >= PHASE_SHARE and s.pulling_seconds >= MIN_PHASE_SECONDS
    ):
        out.append(
            Finding(
                "warning",
                "image-pull",
                f"{len(pull_bound)} of {len(timed)} runs spent longer pulling images and "
                f"starting containers than running ({fmt_seconds(s.pulling_seconds)} pulling vs "
                f"{fmt_seconds(s.running_seconds)} running in all): use a smaller image, keep "
                "the tag stable with imagePullPolicy IfNotPresent, or pre-pull it on the nodes.",
            )
        )
    if s.share(s.pending_seconds) >= PHASE_SHARE and s.pending_seconds >= MIN_PHASE_SECONDS:
        out.append(
            Finding(
                "warning",
                "pending",
                f"Pods waited {s.share(s.pending_seconds):.0%} of their time to be scheduled "
                f"({fmt_seconds(s.pending_seconds)} pending in all): the cluster had no room "
                "for their requests or no node matched their selector; lower requests, add "
                "capacity or relax the nodeSelector.",
            )
        )
    return out


def _parallelism(s: FamilyStats) -> list[Finding]:
    latest = s.runs[-1]
    parallelism, completions = latest.parallelism or 1, latest.completions or 1
    if parallelism > 1 and s.share(s.pending_seconds) >= PHASE_SHARE:
        return [
            Finding(
                "warning",
                "parallelism",
                f"parallelism {parallelism}: pods spent {s.share(s.pending_seconds):.0%} of "
                "their time Pending, so the cluster cannot run that many at once; lower "
                "parallelism to what fits, or add capacity.",
            )
        ]
    if completions > 1 and parallelism == 1 and (s.p50 or 0) >= 60:
        return [
            Finding(
                "info",
                "parallelism",
                f"completions {completions} run one at a time (parallelism 1, p50 "
                f"{fmt_seconds(s.p50)}): if the work items are independent, a higher "
                "parallelism would shorten each run.",
            )
        ]
    if parallelism > completions:
        return [
            Finding(
                "info",
                "parallelism",
                f"parallelism {parallelism} exceeds completions {completions}: the extra "
                "pods never start.",
            )
        ]
    return []


#: A container throttled in at least this share of CFS periods runs measurably slower.
THROTTLED = 0.25


def _sizing_findings(s: FamilyStats) -> list[Finding]:
    out = []
    for c in s.sizing:
        mem_limit = _bytes(c.memory_limit)
        mem_request = _bytes(c.memory_request)
        peak = c.peak_memory_bytes
        if peak and mem_limit and peak >= 0.9 * mem_limit:
            out.append(
                Finding(
                    "warning",
                    "sizing",
                    f"`{c.container}` peaked at {_mib(peak)} of its {c.memory_limit} memory "
                    "limit: close to being OOMKilled; raise the limit.",
                )
            )
        elif peak and mem_request and mem_request >= 64 * MIB and peak < 0.5 * mem_request:
            out.append(
                Finding(
                    "info",
                    "sizing",
                    f"`{c.container}` requests {c.memory_request} memory but peaked at "
                    f"{_mib(peak)}: a request near {_mib(int(peak * 1.3))} frees room.",
                )
            )
        cpu_request = (parse_cpu(c.cpu_request) if c.cpu_request else None) or 0.0
        cpu_peak = c.peak_cpu_millicores
        if cpu_peak is not None and cpu_request >= 100 and cpu_peak < 0.25 * cpu_request:
            out.append(
                Finding(
                    "info",
                    "sizing",
                    f"`{c.container}` requests {c.cpu_request} CPU but used at most "
                    f"{cpu_peak:.0f}m when sampled: the request may be high.",
                )
            )
        throttled = c.peak_throttled
        if throttled is not None and throttled >= THROTTLED:
            out.append(
                Finding(
                    "warning",
                    "sizing",
                    f"`{c.container}` was CPU-throttled in {throttled:.0%} of periods"
                    f"{f' under its {c.cpu_limit} CPU limit' if c.cpu_limit else ''}: raise or "
                    "remove the CPU limit, or it runs slower than it could.",
                )
            )
    return out


def _success(s: FamilyStats) -> list[Finding]:
    if s.count < 3 or s.success_rate >= 0.9:
        return []
    failed = [r for r in s.runs if r.outcome == "failed"]
    cause, count = Counter(r.cause or r.reason or "unknown" for r in failed).most_common(1)[0]
    return [
        Finding(
            "error" if s.success_rate < 0.5 else "warning",
            "success",
            f"Only {s.success_rate:.0%} of {s.count} runs succeeded; the most common failure "
            f"is {cause} ({count} of {len(failed)}).",
        )
    ]


def _bytes(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return parse_memory(text)
    except ValueError:
        return None


def _mib(size: int) -> str:
    return f"{size / MIB:.0f}Mi"
