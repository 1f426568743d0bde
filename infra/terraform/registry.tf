# The Artifact Registry repository the function images are built into (build_config
# .docker_repository), instead of the gcf-artifacts repository Cloud Functions would create
# without a cleanup policy: every build adds an image, and nothing would ever delete one.

resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Function images hold the public jobwarden code and its open-source dependencies, no data; Google-managed encryption at rest, the module offers no CMEK.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.name_prefix}-functions"
  format        = "DOCKER"
  description   = "jobwarden function images, built by Cloud Build from the bundles."
  labels        = local.labels

  cleanup_policy_dry_run = false

  # The newest images_kept versions of each function stay (the running revision's image is
  # the newest one) ...
  cleanup_policies {
    id     = "keep-newest"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.images_kept
    }
  }

  # ... and any other is deleted once image_retention_days old (KEEP wins over DELETE).
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "${var.image_retention_days * 86400}s"
    }
  }

  depends_on = [google_project_service.this]
}
