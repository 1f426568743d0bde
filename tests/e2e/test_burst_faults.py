"""Faults in the middle of a burst on two clusters: nothing lost, nothing doubled, posts once.

Each test runs `tests/support/burst.py`'s rig (two clusters, exporters, pstest, the push
bridge, several instances of the failure reporter, gs:// behind the recording proxy, a real
webhook) with Jobs created at a steady pace, and breaks one part while Jobs are failing:
storage away for 30 s, the webhook answering 503 for 60 s, Pub/Sub away for 30 s, an API
server restarted, a function instance SIGKILLed. Then every failed Job must have exactly one
report, one index entry and one post.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from jobwarden_dev.localstack.stack import LocalStack, StackInfo
from tests.support.burst import Burst, BurstResult, local_ports, run_in_background

COUNT = 24
FAULT_AT = 8  # the fault starts after this many Jobs were created
PACE_S = 0.5  # between creates: the burst goes on through the fault


def _run(
    rig: Burst,
    fault: Callable[[], None],
    *,
    timeout: float = 240,
    background: bool = True,
    then: Callable[[], None] | None = None,
) -> BurstResult:
    """The burst, with `fault` started after FAULT_AT Jobs (in the background, or in this
    thread when it starts processes: a child dies with the thread that started it, by
    PR_SET_PDEATHSIG), and `then` after FAULT_AT + 6 Jobs."""
    threads = []

    def during(created: int) -> None:
        if created == FAULT_AT:
            if background:
                threads.append(run_in_background(fault))
            else:
                fault()
        if created == FAULT_AT + 6 and then is not None:
            then()
        time.sleep(PACE_S)

    rig.create_jobs(COUNT, during=during)
    for thread in threads:
        thread.join(timeout=180)
    done = rig.wait(timeout=timeout)
    result = rig.result()
    print("\n".join(result.lines()))
    assert done, "\n".join(result.lines())
    return result


def _assert_whole(result: BurstResult, *, repeats_after_a_crash: bool = False) -> None:
    assert result.jobs_failed == COUNT
    assert result.lost == [] and result.reports == COUNT
    assert result.duplicates == 0
    assert result.unposted == [] and result.posted == COUNT
    assert result.dead_lettered == 0
    if not repeats_after_a_crash:
        assert result.reposted == {} and result.posts == COUNT
    else:
        # the README's guarantee: a post is repeated (with the same report id, which the
        # receiver deduplicates on) only when a process died between claiming and recording
        assert set(result.reposted) <= result.orphaned
        assert all(extra == 1 for extra in result.reposted.values())


@pytest.fixture
def rig(stack: StackInfo, stack_b: StackInfo, tmp_path: Path) -> Iterator[Burst]:
    burst = Burst([stack, stack_b], tmp_path, instances=2).start()
    try:
        yield burst
    finally:
        burst.stop()


def test_storage_away_for_30s_mid_burst_loses_and_doubles_nothing(rig: Burst) -> None:
    window: list[float] = []

    def outage() -> None:
        window.append(time.time())
        rig.storage.outage()
        time.sleep(30)
        rig.storage.restore()
        window.append(time.time())

    result = _run(rig, outage)
    _assert_whole(result)
    # the outage really came between Failed conditions and their reports
    failed_during = [t for t in rig.failed_at().values() if window[0] <= t + 1 <= window[1]]
    assert failed_during, f"no Job failed during the storage outage {window}"
    assert result.max_writes == 1, result.hottest


def test_webhook_answering_503_for_60s_mid_burst_gets_each_report_once(rig: Burst) -> None:
    result = _run(rig, lambda: rig.webhook.fail_for(60, status=503), timeout=300)
    _assert_whole(result)
    assert result.refused > 0  # the webhook really refused posts meanwhile


def test_a_function_instance_sigkilled_while_reporting_loses_and_doubles_nothing(
    rig: Burst,
) -> None:
    import os
    import signal

    assert rig.pipeline is not None
    victim = rig.pipeline.instance("job_failure_reporter", 1)

    def kill() -> None:
        # posts answered slowly for a while, so that the instance dies in the middle of some
        # (claimed, posted, no outcome recorded yet): the hardest moment to die in
        rig.webhook.slow_for(20, delay=4.0)
        hook_port = int(rig.webhook.url.rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while not rig.webhook.in_flight & local_ports(victim.pid, hook_port):
            assert time.monotonic() < deadline, "the instance never posted while slowed"
            time.sleep(0.05)
        os.killpg(victim.pid, signal.SIGKILL)  # the whole instance, mid-post

    def replace() -> None:  # as Cloud Run replaces an instance that died
        rig.pipeline.replace_instance("job_failure_reporter", 1)  # type: ignore[union-attr]

    result = _run(rig, kill, background=False, then=replace)
    _assert_whole(result, repeats_after_a_crash=True)
    assert not victim.alive()
    assert rig.pipeline.bridge is not None
    assert rig.pipeline.bridge.stats.retried > 0  # requests to the dead instance went unanswered
    # it died mid-post: those claims were left without outcome, and were posted again after
    # their lease, with the same report id
    assert result.orphaned


@pytest.fixture
def rig_pubsub(stack: StackInfo, stack_b: StackInfo, tmp_path: Path) -> Iterator[Burst]:
    burst = Burst([stack, stack_b], tmp_path, instances=2, pubsub_proxy=True).start()
    try:
        yield burst
    finally:
        burst.stop()


def test_pubsub_away_for_30s_mid_burst_loses_and_doubles_nothing(rig_pubsub: Burst) -> None:
    rig = rig_pubsub
    assert rig.pubsub is not None
    pubsub = rig.pubsub

    def outage() -> None:
        pubsub.cut()
        time.sleep(30)
        pubsub.restore()

    _assert_whole(_run(rig, outage, timeout=300))


@pytest.fixture
def restartable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A cluster of its own, so restarting its API server disturbs no other test."""
    stack = LocalStack(tmp_path_factory.mktemp("stack-burst-restart"), name="restarting")
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_an_api_server_restarted_mid_burst_loses_and_doubles_nothing(
    stack_b: StackInfo, restartable: LocalStack, tmp_path: Path
) -> None:
    assert restartable.info is not None
    rig = Burst([stack_b, restartable.info], tmp_path, instances=2).start()
    try:
        result = _run(rig, lambda: restartable.restart_apiserver(down_for=5.0), background=False)
    finally:
        rig.stop()
    _assert_whole(result)
