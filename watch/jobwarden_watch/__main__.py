"""`python -m jobwarden_watch`: `jobwarden watch` (the container's entry point)."""

from jobwarden_watch.cli import main

raise SystemExit(main())
