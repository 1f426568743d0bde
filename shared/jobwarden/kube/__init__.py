"""jobwarden's Kubernetes vocabulary: the objects it reads, their words, and where they live.

    objects.py  typed views of Job, Pod, CronJob (and JobRef, which Job in which cluster),
                plus the lenient readers of API JSON they are built with
    events.py   the one Event view (core/v1 or events.k8s.io) and an Event's identity
    labels.py   label and annotation keys, condition types, reasons
    paths.py    every API path jobwarden calls, and `job_pods`

Inert data and string building only, apart from `paths.job_pods` (one list call through
the `KubeApi` it is given). No other module writes an API path (tests/unit/test_kube.py).
"""
