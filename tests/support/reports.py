"""Hand-made reports (fixed times, fixed ids) for tests where the words are not what is tested.

What users receive is tested on reports the real event path makes from recordings
(`tests/golden/`, `tests.support.goldens`). These remain for shapes no recording yields:
storage, index, routing and webhook tests that need many reports across clusters and uids
(`oomkilled_report(cluster, uid)`), a performance report with every chart and table
(`performance_report`: the event path only records runs), a generic second report kind
(`stuck_report`), and renderer robustness on hostile and huge input (`hostile_report`,
`huge_report`). Their text is illustrative, not what the code says.
"""

from __future__ import annotations

import datetime as dt

from jobwarden.report import (
    ChartBlock,
    FieldItem,
    FieldsBlock,
    LogBlock,
    MarkdownBlock,
    Point,
    Report,
    Series,
    TableBlock,
    TimelineBlock,
    TimelineEntry,
    report_id,
)

T0 = dt.datetime(2024, 5, 1, 2, 0, 0, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def oomkilled_report(
    cluster: str = "prod-eu", uid: str = "6f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
) -> Report:
    event = f"{cluster}:{uid}:failed"
    return Report(
        id=report_id(event, "jobFailureReporter"),
        workflow="jobFailureReporter",
        cluster=cluster,
        namespace="batch",
        job="nightly-etl-28744",
        job_uid=uid,
        created_at=at(600),
        severity="error",
        title="Job batch/nightly-etl-28744 failed: container worker was OOMKilled",
        summary=(
            "Container worker was killed for using more than its 512Mi memory limit, "
            "3 times; the Job reached backoffLimit 2 and was marked Failed."
        ),
        source_event_id=event,
        blocks=[
            FieldsBlock(
                title="Cause",
                fields=[
                    FieldItem(name="Reason", value="BackoffLimitExceeded"),
                    FieldItem(name="Container", value="worker"),
                    FieldItem(name="Exit code", value="137 (OOMKilled)"),
                    FieldItem(name="Memory limit", value="512Mi"),
                    FieldItem(name="Failed pods", value="3 of 3"),
                    FieldItem(name="Owner", value="CronJob batch/nightly-etl"),
                ],
            ),
            MarkdownBlock(
                text=(
                    "### Next steps\n"
                    "- Raise the memory limit of container `worker` above **512Mi** "
                    "(for example 768Mi).\n"
                    "- Check the input size of last night's run.\n"
                    "- Runbook: [OOMKilled Jobs](https://runbooks.example.com/oom)"
                )
            ),
            TableBlock(
                title="Pods",
                columns=["Pod", "Phase", "Node", "Exit code", "Reason", "Restarts"],
                rows=[
                    ["nightly-etl-28744-7xk2p", "Failed", "node-a", "137", "OOMKilled", "0"],
                    ["nightly-etl-28744-q9d4m", "Failed", "node-b", "137", "OOMKilled", "0"],
                    ["nightly-etl-28744-zz81c", "Failed", "node-a", "137", "OOMKilled", "0"],
                ],
            ),
            LogBlock(
                pod="nightly-etl-28744-zz81c",
                container="worker",
                truncated=True,
                lines=[
                    "2024-05-01T01:59:01Z INFO loading partition 2024-04-30",
                    "2024-05-01T01:59:14Z INFO read 1,204,331 rows from s3://etl/raw/2024-04-30",
                    "2024-05-01T01:59:40Z INFO joining with dimension table `customers`",
                    "2024-05-01T01:59:58Z WARN memory usage 498Mi of 512Mi",
                    "2024-05-01T02:00:03Z ERROR MemoryError: unable to allocate 64.0 MiB",
                    "Killed",
                ],
                highlight=[4, 5],
            ),
            TimelineBlock(
                entries=[
                    TimelineEntry(
                        time=at(-120),
                        reason="SuccessfulCreate",
                        object="Job/nightly-etl-28744",
                        message="Created pod: nightly-etl-28744-7xk2p",
                        count=3,
                    ),
                    TimelineEntry(
                        time=at(-110),
                        reason="Started",
                        object="Pod/nightly-etl-28744-7xk2p",
                        message="Started container worker",
                    ),
                    TimelineEntry(
                        time=at(0),
                        type="Warning",
                        reason="OOMKilling",
                        object="Node/node-a",
                        message="Memory cgroup out of memory: Killed process 4121 (python)",
                        count=2,
                    ),
                    TimelineEntry(
                        time=at(5),
                        type="Warning",
                        reason="BackoffLimitExceeded",
                        object="Job/nightly-etl-28744",
                        message="Job has reached the specified backoff limit",
                    ),
                ]
            ),
        ],
    )


def performance_report(cluster: str = "prod-us") -> Report:
    runs = [f"28{740 + i}" for i in range(8)]
    durations = [312.0, 298.0, 305.5, 340.0, 512.0, 330.0, 301.0, 299.0]
    event = f"{cluster}:perf:nightly-etl:7d"
    return Report(
        id=report_id(event, "jobPerformanceAnalysis"),
        workflow="jobPerformanceAnalysis",
        cluster=cluster,
        namespace="batch",
        job="nightly-etl",
        job_uid="",
        created_at=at(3600),
        severity="info",
        title="Performance of batch/nightly-etl over the last 7 days",
        summary="8 runs, 7 succeeded. Median duration 5m 8s; run 28744 took 8m 32s (1.7x median).",
        source_event_id=event,
        blocks=[
            FieldsBlock(
                fields=[
                    FieldItem(name="Runs", value="8"),
                    FieldItem(name="Success rate", value="87.5%"),
                    FieldItem(name="Median duration", value="5m 8s"),
                    FieldItem(name="p95 duration", value="8m 32s"),
                ]
            ),
            ChartBlock(
                title="Duration per run",
                kind="line",
                x_label="run",
                y_label="seconds",
                series=[
                    Series(
                        name="duration",
                        points=[Point(x=r, y=d) for r, d in zip(runs, durations, strict=True)],
                    )
                ],
            ),
            ChartBlock(
                title="Where the time went",
                kind="stackedBar",
                x_label="run",
                y_label="seconds",
                series=[
                    Series(
                        name="pending",
                        points=[Point(x=r, y=4.0 + i % 3) for i, r in enumerate(runs)],
                    ),
                    Series(name="pulling", points=[Point(x=r, y=12.5) for r in runs]),
                    Series(
                        name="running",
                        points=[
                            Point(x=r, y=d - 20.0) for r, d in zip(runs, durations, strict=True)
                        ],
                    ),
                ],
            ),
            ChartBlock(
                title="Peak memory by container",
                kind="bar",
                x_label="container",
                y_label="MiB",
                series=[
                    Series(
                        name="limit", points=[Point(x="worker", y=512), Point(x="sidecar", y=64)]
                    ),
                    Series(
                        name="peak", points=[Point(x="worker", y=498), Point(x="sidecar", y=21.5)]
                    ),
                ],
            ),
        ],
    )


def stuck_report() -> Report:
    event = "staging:0b7e:stuck"
    return Report(
        id=report_id(event, "jobPodEnricher"),
        workflow="jobPodEnricher",
        cluster="staging",
        namespace="ml",
        job="train-resnet",
        job_uid="0b7e0c55-1111-4222-8333-444455556666",
        created_at=at(7200),
        severity="warning",
        title="Job ml/train-resnet is stuck: pod cannot pull its image",
        summary=(
            "The only pod has been Pending for 42m: "
            "ImagePullBackOff for registry.example.com/ml/resnet:v9."
        ),
        source_event_id=event,
        blocks=[
            FieldsBlock(
                title="Pod train-resnet-5d8kq",
                fields=[
                    FieldItem(name="Phase", value="Pending"),
                    FieldItem(name="Container trainer", value="Waiting: ImagePullBackOff"),
                    FieldItem(name="Image", value="registry.example.com/ml/resnet:v9"),
                    FieldItem(name="Pending for", value="42m"),
                ],
            ),
            TimelineBlock(
                title="Pod events",
                entries=[
                    TimelineEntry(
                        time=at(4680),
                        reason="Scheduled",
                        object="Pod/train-resnet-5d8kq",
                        message="Successfully assigned ml/train-resnet-5d8kq to gpu-node-3",
                    ),
                    TimelineEntry(
                        time=at(7150),
                        type="Warning",
                        reason="Failed",
                        object="Pod/train-resnet-5d8kq",
                        message=(
                            'Failed to pull image "registry.example.com/ml/resnet:v9": not found'
                        ),
                        count=14,
                    ),
                    TimelineEntry(
                        time=None,
                        type="Warning",
                        reason="BackOff",
                        object="Pod/train-resnet-5d8kq",
                        message='Back-off pulling image "registry.example.com/ml/resnet:v9"',
                        count=180,
                    ),
                ],
            ),
            LogBlock(pod="train-resnet-5d8kq", container="trainer", lines=[]),
        ],
    )


HOSTILE_LINES = [
    "<script>alert('pwned')</script>",
    "user said <!channel> & <@U123> look",
    "```",
    "here is ``` a fence and ```` four",
    "| pipe | table | *bold* _it_ [x](javascript:alert(1))",
]


def hostile_report() -> Report:
    """Text from the cluster trying every escape: HTML, mrkdwn mentions, fences, Markdown."""
    base = oomkilled_report()
    return base.model_copy(
        update={
            "title": "Job <b>x</b> & `y` failed <!here>",
            "summary": "Message: <img src=x onerror=alert(1)> & <!channel>",
            "blocks": [
                FieldsBlock(fields=[FieldItem(name="<i>name</i>", value="<!channel> & |pipe|")]),
                LogBlock(pod="p<1>", container="c`2`", lines=HOSTILE_LINES, highlight=[0]),
                MarkdownBlock(text="[click](javascript:alert(1)) and <script>x</script>"),
                ChartBlock(
                    title="<script>chart</script>",
                    kind="bar",
                    series=[Series(name="<s>", points=[Point(x="<x>", y=1)])],
                ),
            ],
        }
    )


def huge_report() -> Report:
    """Far more than any chat message can hold."""
    base = oomkilled_report()
    lines = [f"line {i} " + "x" * 180 for i in range(2000)]
    blocks = [
        FieldsBlock(
            title="Many fields",
            fields=[FieldItem(name=f"field {i}", value="v" * 2500) for i in range(35)],
        ),
        LogBlock(pod="p", container="c", lines=lines, truncated=True, highlight=[3, 1990]),
        TimelineBlock(
            entries=[
                TimelineEntry(
                    time=at(i),
                    type="Warning" if i % 7 == 0 else "Normal",
                    reason=f"R{i}",
                    object=f"Pod/p-{i}",
                    message="m" * 300,
                )
                for i in range(400)
            ]
        ),
        TableBlock(columns=["a", "b"], rows=[[f"row {i}", "y" * 80] for i in range(500)]),
        MarkdownBlock(text="\n\n".join("para " + "z" * 2900 for _ in range(5))),
    ]
    blocks += [MarkdownBlock(text=f"extra section {i}") for i in range(80)]
    return base.model_copy(update={"title": "T" * 400, "summary": "S" * 5000, "blocks": blocks})
