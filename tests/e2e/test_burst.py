"""A burst of failing Jobs on two clusters, end to end: nothing lost, doubled or hot.

Two local stacks, an exporter each, one topic, the push bridge, three instances of the
failure reporter, `gs://` on fake-gcs-server behind a proxy that answers 429 like Cloud
Storage to a second write of one object name within a second, and a real webhook receiver
(`tests/support/burst.py`). The 1,000-Job figure is `bench/burst_pipeline.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobwarden_dev.localstack.stack import StackInfo
from tests.support.burst import Burst

COUNT = 40


@pytest.fixture
def burst(stack: StackInfo, stack_b: StackInfo, tmp_path: Path) -> Iterator[Burst]:
    rig = Burst([stack, stack_b], tmp_path, instances=3).start()
    try:
        yield rig
    finally:
        rig.stop()


def test_a_burst_on_two_clusters_is_stored_and_posted_once_with_no_hot_object(
    burst: Burst,
) -> None:
    burst.create_jobs(COUNT)
    assert burst.wait(timeout=240), "\n".join(burst.result().lines())
    result = burst.result()
    print("\n".join(result.lines()))
    assert result.jobs_failed == COUNT
    assert result.reports == COUNT and result.lost == []
    assert result.duplicates == 0
    assert (result.posts, result.posted) == (COUNT, COUNT)  # every report posted, once
    assert result.unposted == [] and result.reposted == {}
    assert result.max_writes == 1, result.hottest  # no object name written twice in a second
    assert result.throttled == 0
    assert result.dead_lettered == 0
    # both clusters took part, and every instance of the function did some of the work
    assert {cluster for cluster, _ in burst.jobs.values()} == {"local", "cluster-b"}
    logs = sorted((burst.workdir / "run" / "logs").glob("job_failure_reporter*.log"))
    assert len(logs) == 3
    assert all("stored" in log.read_text() for log in logs)
