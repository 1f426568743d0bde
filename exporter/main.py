"""The in-cluster exporter program (thin edge; the logic is `jobwarden_exporter`).

    python exporter/main.py --cluster prod-eu --in-cluster --topic projects/P/topics/job-events

Flags: `python exporter/main.py --help`. The container image runs this file.
"""

from jobwarden_exporter.main import main

if __name__ == "__main__":
    raise SystemExit(main())
