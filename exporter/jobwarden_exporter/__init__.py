"""The per-cluster exporter: watch Jobs, detect transitions, publish JobEvents to Pub/Sub.

Modules, bottom up: `transitions` (pure detection), `tracker` (what this process knows
and already reported), `reflector` (list + watch with resourceVersion bookkeeping),
`watcher` (Jobs and Events in, JobEvents out), `publisher` (bounded buffer, retries,
drop accounting) over `pubsub` (the google-cloud-pubsub adapter), `leader` (Lease),
`metrics` + `server` (/healthz, /metrics), `service` (the pieces together) and `main`
(`run(...)` and the command line). Nothing is imported here eagerly.
"""
