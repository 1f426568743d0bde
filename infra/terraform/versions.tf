terraform {
  # optional() object attributes with defaults (1.3) and data source preconditions (1.2);
  # OpenTofu 1.6 and later read the same configuration.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.x: build_config.service_account on google_cloudfunctions2_function,
      # replication { auto {} } on secrets, google_cloud_run_v2_service_iam_member.
      version = ">= 6.0.0, < 8.0.0"
    }
    archive = {
      source = "hashicorp/archive"
      # 2.4: output_sha256 and glob excludes on data "archive_file".
      version = ">= 2.4.0, < 3.0.0"
    }
  }
}
