"""`python -m jobwarden_exporter ...`: see `jobwarden_exporter.main`."""

from jobwarden_exporter.main import main

raise SystemExit(main())
