"""`python -m jobwarden.exporter ...`: see `jobwarden.exporter.main`."""

from jobwarden.exporter.main import main

raise SystemExit(main())
