# Secret Manager secrets: the confirmation key, each webhook's URL (and HMAC key for type
# json), each non-GKE cluster's kubeconfig. Terraform creates the secrets only; their values
# are added out of band (`gcloud secrets versions add ID --data-file=-`), so they never enter
# the Terraform state or plan. Each is readable only by the workflows that use it.

resource "google_secret_manager_secret" "this" {
  for_each = { for key, s in local.secrets : key => s.secret_id }

  project   = var.project_id
  secret_id = each.value
  labels    = merge(local.labels, { "jobwarden-secret" = substr(each.key, 0, 63) })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_iam_member" "reader" {
  for_each = local.secret_readers

  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.workflow[each.value.workflow].email}"
}

# The configuration file (JOBWARDEN_CONFIG). It holds no secrets — jobwarden's configuration
# names environment variables and paths and refuses values in their place — so, unlike the
# secrets above, Terraform writes its value: a Secret Manager secret is simply how a Cloud
# Run function mounts a file.
resource "google_secret_manager_secret" "config" {
  project   = var.project_id
  secret_id = "${var.name_prefix}-config"
  labels    = merge(local.labels, { "jobwarden-secret" = "config" })

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "google_secret_manager_secret_version" "config" {
  secret      = google_secret_manager_secret.config.id
  secret_data = local.config_yaml

  # The functions move to the new version before the old one is deleted.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_secret_manager_secret_iam_member" "config_reader" {
  for_each = local.workflows

  project   = var.project_id
  secret_id = google_secret_manager_secret.config.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.workflow[each.key].email}"
}
