# The Cloud Run functions (2nd gen), one per functions-framework target, built from the
# bundles `make bundle` writes to build/<function>/. Each bundle is zipped and uploaded under
# a name that contains the zip's SHA-256, so a plan replaces only the objects whose bundle
# changed and only the functions built from them are rebuilt.

data "archive_file" "bundle" {
  for_each = local.deployed_sources

  type        = "zip"
  source_dir  = "${local.bundle_dir}/${each.key}"
  output_path = "${local.archive_dir}/${each.key}.zip"
  # The archive provider zeroes modification times; a fixed mode makes the hash the same
  # on every machine, so an unchanged bundle never redeploys.
  output_file_mode = "0644"
  excludes         = ["__pycache__", "**/__pycache__", "**/*.pyc"]

  lifecycle {
    precondition {
      condition     = fileexists("${local.bundle_dir}/${each.key}/main.py") && fileexists("${local.bundle_dir}/${each.key}/requirements.txt")
      error_message = "No bundle for ${each.key} in ${local.bundle_dir}: run `make bundle` first (it stages build/<function>/ with main.py, jobwarden/ and requirements.txt), or set bundle_dir."
    }
  }
}

resource "google_storage_bucket_object" "bundle" {
  for_each = data.archive_file.bundle

  bucket       = google_storage_bucket.sources.name
  name         = "bundles/${each.key}/${each.value.output_sha256}.zip"
  source       = each.value.output_path
  content_type = "application/zip"

  # A changed bundle is a new object: upload it before the old one goes.
  lifecycle {
    create_before_destroy = true
  }
}

resource "google_cloudfunctions2_function" "fn" {
  #checkov:skip=CKV_GCP_124:Event functions are ALLOW_INTERNAL_ONLY; the HTTP ones default to ALLOW_ALL so operators and chat bots can reach restart/delete, gated by roles/run.invoker for listed members (never allUsers) and the cluster's TokenReview/SubjectAccessReview; with authentication.mode = iap they are ALLOW_INTERNAL_AND_GCLB (behind the load balancer), and var.http_ingress narrows it too.
  for_each = local.deployed_targets

  project     = var.project_id
  location    = var.region
  name        = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  description = "jobwarden ${each.key} (${each.value.signature}) from build/${each.value.source}"
  labels      = merge(local.labels, { "jobwarden-workflow" = each.value.source })

  build_config {
    runtime     = var.python_runtime
    entry_point = each.key
    # A dedicated build account with the documented roles (iam.tf): a new project's default
    # (the Compute Engine default account) often lacks them.
    service_account = local.build_service_account
    # The module's repository, with a cleanup policy (registry.tf), not gcf-artifacts.
    docker_repository = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.sources.name
        object = google_storage_bucket_object.bundle[each.value.source].name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.workflow[each.value.source].email
    available_memory      = each.value.memory
    available_cpu         = each.value.cpu
    timeout_seconds       = each.value.timeout_seconds
    min_instance_count    = each.value.min_instances
    max_instance_count    = each.value.max_instances
    # jobwarden handlers block on cluster and storage calls: one request per instance.
    max_instance_request_concurrency = 1
    # Event functions take pushes from Pub/Sub in this project only (internal traffic);
    # HTTP functions are reached by their invokers (roles/run.invoker), see iam.tf, or,
    # with IAP, through the load balancer only (local.http_ingress).
    ingress_settings               = each.value.signature == "cloudevent" ? "ALLOW_INTERNAL_ONLY" : local.http_ingress
    all_traffic_on_latest_revision = true

    # Private control planes (var.vpc_egress): a Serverless VPC Access connector, or Direct
    # VPC egress; neither for clusters reached through their DNS endpoint.
    vpc_connector                 = local.vpc_connector
    vpc_connector_egress_settings = local.vpc_connector == null ? null : local.vpc_traffic
    direct_vpc_egress             = length(local.direct_vpc) == 0 ? null : "VPC_EGRESS_${local.vpc_traffic}"
    dynamic "direct_vpc_network_interface" {
      for_each = local.direct_vpc
      content {
        network    = direct_vpc_network_interface.value.network
        subnetwork = direct_vpc_network_interface.value.subnetwork
        tags       = direct_vpc_network_interface.value.tags
      }
    }

    environment_variables = {
      (local.config_env)   = "${local.config_dir}/${local.config_file}"
      GOOGLE_CLOUD_PROJECT = var.project_id
    }

    # Webhook URLs, HMAC keys and the confirmation key, under the environment variable names
    # the generated configuration names (urlEnv, secretEnv, confirmationSecretEnv). Only the
    # targets that use a secret get it, and only once var.secret_versions names its version:
    # a pinned number (a new one rolls a new revision) or "latest" (read at instance start).
    dynamic "secret_environment_variables" {
      for_each = local.secret_env[each.key]
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = google_secret_manager_secret.this[secret_environment_variables.value.secret].secret_id
        version    = secret_environment_variables.value.version
      }
    }

    # The configuration file, pinned to the version this apply wrote: a change redeploys.
    secret_volumes {
      mount_path = local.config_dir
      project_id = var.project_id
      secret     = google_secret_manager_secret.config.secret_id
      versions {
        version = google_secret_manager_secret_version.config.version
        path    = local.config_file
      }
    }

    # One kubeconfig per non-GKE cluster whose secret has a version (var.secret_versions),
    # read from the file on every access.
    dynamic "secret_volumes" {
      for_each = local.kubeconfig_clusters
      content {
        mount_path = "/etc/jobwarden/clusters/${secret_volumes.key}"
        project_id = var.project_id
        secret     = google_secret_manager_secret.this["cluster-${secret_volumes.key}-kubeconfig"].secret_id
        versions {
          version = secret_volumes.value.version
          path    = "kubeconfig"
        }
      }
    }
  }

  # Deployment checks that the service account can read every secret it mounts; the build
  # needs its account's grants before it starts.
  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.reader,
    google_secret_manager_secret_iam_member.config_reader,
    google_storage_bucket_iam_member.workflow_objects,
    google_storage_bucket_iam_member.build_reads_sources,
    google_artifact_registry_repository_iam_member.build_writes_images,
    google_project_iam_member.build_log_writer,
    terraform_data.input_checks,
  ]
}
