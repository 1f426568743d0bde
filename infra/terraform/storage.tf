# Two private buckets: reports (reports, indexes, performance run records, audit records of
# restart and delete; sinks.storage.url) and sources (the zipped function bundles).

resource "google_storage_bucket" "reports" {
  #checkov:skip=CKV_GCP_62:Access is recorded by Cloud Audit Logs (enable Data Access logs for storage.googleapis.com); legacy usage logs would need a second bucket this module does not own.
  project                     = var.project_id
  name                        = local.reports_bucket
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = local.labels

  # A bad write or delete can be undone for noncurrent_retention_days.
  versioning {
    enabled = true
  }

  # Versioning already keeps the history: soft delete (7 days by default) would bill every
  # deleted version once more, for nothing.
  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Everything expires retention_days after it was written: the live object becomes a
  # noncurrent version ...
  lifecycle_rule {
    condition {
      age        = var.retention_days
      with_state = "LIVE"
    }
    action {
      type = "Delete"
    }
  }

  # ... which is deleted noncurrent_retention_days later ...
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_retention_days
    }
    action {
      type = "Delete"
    }
  }

  # ... or as soon as more than noncurrent_versions_kept newer versions exist (indexes are
  # rewritten for every report).
  lifecycle_rule {
    condition {
      num_newer_versions = var.noncurrent_versions_kept
      with_state         = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket" "sources" {
  #checkov:skip=CKV_GCP_62:Only Terraform and Cloud Build touch these bundles; Cloud Audit Logs record admin access, legacy usage logs would need a second bucket.
  project                     = var.project_id
  name                        = local.sources_bucket
  location                    = local.bucket_location
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  # Only generated zips live here; destroy may always remove them.
  force_destroy = true
  labels        = local.labels

  versioning {
    enabled = true
  }

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  # Bundle objects are content-addressed and replaced by Terraform; drop old versions soon.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 7
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}
