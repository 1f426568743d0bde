# The scheduled performance digest: one Cloud Scheduler job per cluster calls
# job_performance_digest with POST {"cluster": "<name>"}, signed with an OIDC token of a
# dedicated service account that may invoke that function and nothing else. The function
# stores the digest (slowest and least reliable families over digest.duration) and posts it
# to the webhooks like the other performance reports. var.digest_schedule = null turns it off.

resource "google_service_account" "scheduler" {
  count = local.digest_scheduled ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-scheduler"
  display_name = "jobwarden digest scheduler (invokes job_performance_digest)"

  depends_on = [google_project_service.this]
}

resource "google_cloud_run_v2_service_iam_member" "scheduler_invoker" {
  count = local.digest_scheduled ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn["job_performance_digest"].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler[0].email}"
}

resource "google_cloud_scheduler_job" "digest" {
  for_each = local.digest_scheduled ? var.clusters : {}

  project          = var.project_id
  region           = var.region
  name             = "${var.name_prefix}-digest-${each.key}"
  description      = "jobwarden performance digest of cluster ${each.key}"
  schedule         = var.digest_schedule
  time_zone        = var.digest_time_zone
  attempt_deadline = "320s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
  }

  http_target {
    http_method = "POST"
    uri         = google_cloudfunctions2_function.fn["job_performance_digest"].service_config[0].uri
    body        = base64encode(jsonencode({ cluster = each.key }))
    headers     = { "Content-Type" = "application/json" }

    oidc_token {
      service_account_email = google_service_account.scheduler[0].email
      audience              = google_cloudfunctions2_function.fn["job_performance_digest"].service_config[0].uri
    }
  }

  depends_on = [google_project_service.this, google_cloud_run_v2_service_iam_member.scheduler_invoker]
}
