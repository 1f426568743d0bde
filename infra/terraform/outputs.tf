output "topics" {
  description = "Each cluster's topic, by cluster: its exporter's --topic (the chart's `topic`; kubernetes-event-exporter's pubsub.topic is its last segment). Only that cluster's exporter account may publish to it."
  value       = { for name, t in google_pubsub_topic.cluster : name => t.id }
}

output "exporters" {
  description = "Per cluster, what its exporter's Helm install takes: topic (--set topic=...), gcp_service_account (serviceAccount.gcpServiceAccount), namespace and service_account (the Kubernetes service account bound through Workload Identity; the chart's serviceAccount.name), and the members allowed to act as the account."
  value = {
    for name, c in var.clusters : name => {
      topic                     = google_pubsub_topic.cluster[name].id
      gcp_service_account       = google_service_account.exporter[name].email
      namespace                 = c.exporter.namespace
      service_account           = c.exporter.service_account
      workload_identity_members = local.exporter_members[name]
    }
  }
}

output "dead_letter_topic" {
  description = "Full name of the dead-letter topic."
  value       = google_pubsub_topic.dead_letter.id
}

output "dead_letter_subscription" {
  description = "Pull subscription holding dead-lettered messages (`gcloud pubsub subscriptions pull` it to inspect them)."
  value       = google_pubsub_subscription.dead_letter.id
}

output "subscriptions" {
  description = "Push subscription of each event function and cluster topic, by \"<target>/<cluster>\"."
  value       = { for key, s in google_pubsub_subscription.workflow : key => s.id }
}

output "subscription_filters" {
  description = "Attribute filter of each event function's subscription (null: unfiltered)."
  value       = { for name, t in local.event_targets : name => local.subscription_filter[name] }
}

output "function_uris" {
  description = "Cloud Run URL of each function, by target."
  value       = { for name, f in google_cloudfunctions2_function.fn : name => f.service_config[0].uri }
}

output "http_function_uris" {
  description = "URLs of the HTTP functions (restart, delete, on-demand reports). Callers send their Google ID token in X-Serverless-Authorization and their Kubernetes token in Authorization."
  value       = { for name, t in local.http_targets : name => google_cloudfunctions2_function.fn[name].service_config[0].uri }
}

output "reports_bucket" {
  description = "Bucket holding reports, indexes, run records and audit records."
  value       = google_storage_bucket.reports.name
}

output "storage_url" {
  description = "The functions' sinks.storage.url (`jobwarden reports --store` takes it too)."
  value       = local.storage_url
}

output "sources_bucket" {
  description = "Bucket holding the zipped function bundles."
  value       = google_storage_bucket.sources.name
}

output "workflow_service_accounts" {
  description = "Service account email of each workflow (functions/ folder): bind these in each cluster's RBAC."
  value       = { for name, sa in google_service_account.workflow : name => sa.email }
}

output "push_service_account" {
  description = "Identity of the push subscriptions' OIDC tokens."
  value       = google_service_account.push.email
}

output "exporter_service_accounts" {
  description = "Each cluster's exporter Google service account, by cluster: annotate that cluster's exporter Kubernetes service account with iam.gke.io/gcp-service-account set to it (the chart's serviceAccount.gcpServiceAccount)."
  value       = { for name, sa in google_service_account.exporter : name => sa.email }
}

output "secrets" {
  description = "Secrets whose values you add out of band: what each holds, its key in secret_versions, the version the functions mount (null: none yet), and the command that adds a value."
  value = {
    for key, s in local.secrets : google_secret_manager_secret.this[key].secret_id => {
      key     = key
      holds   = s.purpose
      env     = s.env
      mounted = local.secret_version[key]
      command = "gcloud secrets versions add ${google_secret_manager_secret.this[key].secret_id} --project=${var.project_id} --data-file=-"
    }
  }
}

output "pending_secrets" {
  description = "Keys of the secrets no function mounts yet: add a value, then set secret_versions[<key>] (README: Add a cluster, Rotate secrets)."
  value       = local.pending_secrets
}

output "build_service_account" {
  description = "The account Cloud Build builds the functions as."
  value       = local.build_service_account
}

output "artifact_repository" {
  description = "The Artifact Registry repository of the function images (with its cleanup policy)."
  value       = google_artifact_registry_repository.functions.id
}

output "config_yaml" {
  description = "The jobwarden configuration file the functions read (JOBWARDEN_CONFIG), as JSON (which is YAML); check it with `python -m jobwarden.config check`."
  value       = local.config_yaml
}
