terraform {
  # optional() object attributes with defaults (1.3) and data source preconditions (1.2);
  # OpenTofu 1.6 and later read the same configuration.
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 7.21: service_config.direct_vpc_network_interface / direct_vpc_egress on
      # google_cloudfunctions2_function (Direct VPC egress, GA in 7.21.0). Older:
      # build_config.service_account and docker_repository, soft_delete_policy on buckets,
      # cleanup_policies on Artifact Registry repositories.
      version = ">= 7.21.0, < 8.0.0"
    }
    google-beta = {
      source = "hashicorp/google-beta"
      # google_project_service_identity (the Pub/Sub service agent) is in google-beta only.
      version = ">= 7.21.0, < 8.0.0"
    }
    archive = {
      source = "hashicorp/archive"
      # 2.4: output_sha256 and glob excludes on data "archive_file".
      version = ">= 2.4.0, < 3.0.0"
    }
  }
}
