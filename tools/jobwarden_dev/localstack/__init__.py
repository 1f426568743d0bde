"""The local stack: real Kubernetes control plane, KWOK, Pub/Sub and GCS emulators, Prometheus.

Used by the tests, `make up`/`make down` and the embedded default (`make run`).
Binaries are built from pinned Go modules under `infra/local/` and cached per version.
"""
