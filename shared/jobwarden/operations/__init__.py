"""Restart and delete: actions on a cluster, on behalf of an authenticated caller."""
