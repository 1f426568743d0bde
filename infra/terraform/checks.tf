# Checks that relate two inputs, which a variable's own validation cannot do on Terraform 1.5.
# They run at plan, before anything is created. terraform_data is built into Terraform (1.4+)
# and OpenTofu: this file needs no provider, so the tests evaluate it with variables.tf and
# locals.tf alone.

resource "terraform_data" "input_checks" {
  lifecycle {
    # Pub/Sub's ack deadline is a push request's timeout. A function that may run for
    # timeout_seconds, plus a cold start and queueing, must answer before it, or Pub/Sub
    # redelivers a message that is still being handled.
    precondition {
      condition     = alltrue([for name, timeout in local.event_timeouts : timeout + 60 <= var.ack_deadline_seconds])
      error_message = "ack_deadline_seconds (${var.ack_deadline_seconds}) must be at least each event function's timeout_seconds + 60; too long: ${join(", ", [for name, timeout in local.event_timeouts : "${name} (${timeout} s)" if timeout + 60 > var.ack_deadline_seconds])}. Raise ack_deadline_seconds (at most 600) or lower the timeouts."
    }

    # IAP guards the load balancer only: with ALLOW_ALL anyone holding roles/run.invoker
    # could reach the run.app URL around it (jobwarden would still answer 401 without an
    # assertion, but IAP's own access policy would not be what decides).
    precondition {
      condition     = !(local.iap && var.http_ingress == "ALLOW_ALL")
      error_message = "authentication.mode = \"iap\" needs the HTTP functions reachable through the load balancer only: leave http_ingress unset (it becomes ALLOW_INTERNAL_AND_GCLB) or set ALLOW_INTERNAL_AND_GCLB or ALLOW_INTERNAL_ONLY, not ALLOW_ALL."
    }

    # Each cluster's exporter account must be acted as by that cluster's exporter only.
    precondition {
      condition     = length(local.shared_exporter_members) == 0
      error_message = "Exporters of different clusters would share an identity, so each could publish as the other: ${join("; ", [for m, cs in local.shared_exporter_members : "${m} for ${join(", ", cs)}"])}. GKE clusters of one project share one Workload Identity pool: give each exporter its own clusters.<name>.exporter.service_account (and the chart's serviceAccount.name), e.g. jobwarden-exporter-<cluster>."
    }

    precondition {
      condition     = length(distinct(values(local.exporter_account_id))) == length(local.exporter_account_id)
      error_message = "Two clusters get the same exporter service account id (${join(", ", [for c, id in local.exporter_account_id : "${c}: ${id}"])}): shorten name_prefix or a cluster name so that <prefix>-exporter-<cluster> fits 30 characters."
    }

    # The values file is the chart's too; for the Cloud Run functions the authentication input
    # decides (it also sets the HTTP functions' ingress), so the two must not disagree.
    precondition {
      condition     = try(local.values.security.authentication, var.authentication.mode) == var.authentication.mode && try(local.values.security.iap.audience, var.authentication.iap_audience) == var.authentication.iap_audience
      error_message = "values_file disagrees with the authentication input: it says security.authentication = ${try(local.values.security.authentication, "(unset)")}, security.iap.audience = ${try(local.values.security.iap.audience, "(unset)")}; the input says mode = ${var.authentication.mode}, iap_audience = ${coalesce(var.authentication.iap_audience, "(unset)")}. The module sets both for the Cloud Run functions (and the HTTP functions' ingress with them): make the file agree or drop the keys from it."
    }

    # A misspelt key would leave a secret unmounted without a word.
    precondition {
      condition     = length(setsubtract(keys(var.secret_versions), keys(local.secrets))) == 0
      error_message = "secret_versions has keys that name no secret of this module: ${join(", ", sort(setsubtract(keys(var.secret_versions), keys(local.secrets))))}. Known keys: ${join(", ", sort(keys(local.secrets)))} (`terraform output secrets`)."
    }
  }
}

# The values file is the chart's too: clusters and sinks there are for functions running in a
# cluster (the chart's ConfigMap). The Cloud Run functions take theirs from this module's
# inputs, so say so rather than drop a webhook without a word. A warning: it does not stop a
# plan.
check "values_file_keys" {
  assert {
    condition     = length(local.values_ignored) == 0
    error_message = "values_file sets ${join(" and ", local.values_ignored)}, which the Cloud Run functions do not take from it: their clusters come from the clusters input, their storage and webhooks from storage_prefix / reports_bucket_name and the webhooks input (the module creates the topics, bucket and secrets they name). Keep them in the file only for functions running in a cluster (infra/knative)."
  }
}
