"""Restart and delete a Job on an operator's request (README: Restart and delete).

    http.py      `serve(action, request, runtime)`: the HTTP contract, one place
    (who is calling and may they: `jobwarden.auth`, shared with the on-demand reports)
    confirm.py   signed, short-lived confirmation tokens bound to the Job's uid and resourceVersion
    ledger.py    a confirmation token is used once: a retried call gets the first answer
    restart.py   recreate a finished Job from its own spec under a new name, then follow it
    newjob.py    the new Job's object: cleaned, renamed, memory raised after OOMKilled
    delete.py    delete a Job with a propagation policy and confirm it and its pods are gone
    audit.py     one audit record per plan, dry run, execution and refusal
    common.py    the request, a Job's pods, polling (errors: `jobwarden.errors`)

The caller's own RBAC decides (SubjectAccessReview as the caller, for every verb the
action uses); the cluster calls are then made with jobwarden's credentials for that cluster.
"""
