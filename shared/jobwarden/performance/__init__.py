"""Performance analysis of Job runs (workflow `jobPerformanceAnalysis`).

`runs`: one record per finished Job run, kept in storage under `runs/`.
`analysis`: pure statistics and recommendations over the runs of a window.
`report`: the canonical Report (tables, recommendations, charts).
`handler`: the CloudEvent (record a run) and HTTP (analyse a window) entry points.
`history`: a family's recent runs; `regression`: every finished run against them;
`digest`: the scheduled per-cluster digest (`job_performance_digest`).

Importing this package imports nothing else (cold start matters).
"""
