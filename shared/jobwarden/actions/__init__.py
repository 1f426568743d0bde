"""Restart and delete a Job on an operator's request (README: Restart and delete).

    http.py      `serve(action, request, runtime)`: the HTTP contract, one place
    (who is calling and may they: `jobwarden.auth`, shared with the on-demand reports)
    confirm.py   signed, short-lived confirmation tokens bound to the Job's uid and resourceVersion
    ledger.py    a token (or Idempotency-Key) executes once; authenticated records bound to it
    review.py    what the ledger and the audit keep of a new Job (never env values)
    restart.py   recreate a finished Job from its own spec under a new name, then follow it
    newjob.py    the new Job's object: cleaned, renamed, memory raised after OOMKilled
    delete.py    delete a Job with a propagation policy and confirm it and its pods are gone
    audit.py     one audit record per plan, dry run, execution and refusal
    outcome.py   an execution's outcome as a jobRestart / jobDelete report (stored, routed)
    common.py    the request, a Job's pods, polling (errors: `jobwarden.errors`)

The caller's own RBAC decides (SubjectAccessReview as the caller, for every verb the
action uses); then jobwarden reads with its own credentials and makes every write as the
caller (Kubernetes impersonation), so admission and the API server's audit see the person.
"""
