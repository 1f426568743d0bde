"""`jobwarden watch`: the exporter and every event workflow in one process, against any cluster.

The runtime (`jobwarden`) and the exporter (`jobwarden_exporter`) run unchanged; this package
only connects them: an in-process queue in place of Pub/Sub (`queue`), the pipeline that
starts one exporter per cluster and announces each stored report (`pipeline`), the pages on
a local port (`pages`) and the command line (`cli`). ARCHITECTURE.md §2.
"""
