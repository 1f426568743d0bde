"""Where reports go: storage (`sinks.storage`: file:// or gs://) and webhooks (`sinks.webhooks`).

Importing this package imports nothing else; each adapter loads its own clients lazily.
"""
