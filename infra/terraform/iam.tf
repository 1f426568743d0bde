# Identities and least-privilege grants. Every grant is on one resource (a topic, a
# subscription, a bucket, a secret, a Cloud Run service, a service account); the only
# project-level role is roles/container.clusterViewer on the projects of GKE clusters, which
# the container API offers at no finer level.
#
#   workflow accounts   one per functions/ folder (its _http variant shares it):
#                       roles/storage.objectUser on the reports bucket, secretAccessor on the
#                       configuration and on the secrets its targets read, clusterViewer on
#                       GKE projects. No Pub/Sub role: messages are pushed to them.
#   push account        the identity in the push subscriptions' OIDC tokens:
#                       roles/run.invoker on the event functions only.
#   exporter accounts   one per cluster: roles/pubsub.publisher on that cluster's topic
#                       only; that cluster's exporter (Kubernetes service account) acts as
#                       it through Workload Identity.
#   Pub/Sub agent       publisher on the dead-letter topic, subscriber on the workflow
#                       subscriptions (required for dead-lettering), token creator on the
#                       push account (mints the OIDC tokens).
#   IAP agent           (authentication.mode = iap only) roles/run.invoker on the HTTP
#                       functions: IAP forwards the requests it admitted as this identity.
#   build account       roles/logging.logWriter on the project (build logs; no finer level),
#                       roles/artifactregistry.writer on the functions' repository,
#                       roles/storage.objectViewer on the source bucket.

# Pub/Sub's service agent forwards undeliverable messages to the dead-letter topic and mints
# the OIDC tokens of push deliveries. In a new project it exists only once something asks
# for it: create it before granting it roles, or the first apply fails on a missing member.
# (google_project_service_identity is in the google-beta provider only.)
resource "google_project_service_identity" "pubsub" {
  provider = google-beta

  project = var.project_id
  service = "pubsub.googleapis.com"

  depends_on = [google_project_service.this]
}

locals {
  pubsub_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"
}

# With authentication.mode = iap, IAP calls the HTTP functions as its service agent
# (service-<project number>@gcp-sa-iap.iam.gserviceaccount.com, an ID token in
# X-Serverless-Authorization); like Pub/Sub's, it exists once something asks for it.
resource "google_project_service_identity" "iap" {
  count    = local.iap ? 1 : 0
  provider = google-beta

  project = var.project_id
  service = "iap.googleapis.com"

  depends_on = [google_project_service.this]
}

resource "google_project_service" "this" {
  for_each = var.enable_apis ? setunion([
    "artifactregistry.googleapis.com", # function images
    "cloudbuild.googleapis.com",       # function builds
    "cloudfunctions.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com", # build logs
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
    # The workflow accounts (of this project) read GKE endpoints through the container API.
    ], length(local.gke_projects) > 0 ? ["container.googleapis.com"] : [],
    local.vpc_connector != null ? ["vpcaccess.googleapis.com"] : [],
    local.iap ? ["iap.googleapis.com"] : [],
  local.digest_scheduled ? ["cloudscheduler.googleapis.com"] : []) : toset([])

  project = var.project_id
  service = each.key
  # Other workloads may use these APIs too: never switch them off on destroy.
  disable_on_destroy = false
}

# --- service accounts -----------------------------------------------------------------------

resource "google_service_account" "workflow" {
  for_each = local.workflows

  project      = var.project_id
  account_id   = "${var.name_prefix}-${local.workflow_accounts[each.key]}"
  display_name = "jobwarden ${each.key}"
  description  = "Runs the ${each.key} function(s): reads its secrets and configuration, writes to the reports bucket, reaches the clusters."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.name_prefix}-push"
  display_name = "jobwarden Pub/Sub push"
  description  = "Identity of the OIDC tokens Pub/Sub attaches to pushes to the jobwarden event functions; may only invoke them."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "exporter" {
  for_each = var.clusters

  project      = var.project_id
  account_id   = local.exporter_account_id[each.key]
  display_name = "jobwarden exporter of ${each.key}"
  description  = "The exporter in cluster ${each.key} (through Workload Identity): may only publish to that cluster's topic ${local.cluster_topic[each.key]}."

  depends_on = [google_project_service.this]
}

# --- workflow accounts ----------------------------------------------------------------------

resource "google_storage_bucket_iam_member" "workflow_objects" {
  for_each = local.workflows

  bucket = google_storage_bucket.reports.name
  # Create, read and list objects (reports and index entries are create-only, the index is a
  # listing); no bucket or IAM administration.
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.workflow[each.key].email}"
}

resource "google_project_iam_member" "cluster_viewer" {
  for_each = local.cluster_viewers

  project = each.value.project
  # container.clusters.get: the endpoint and CA of a GKE cluster. What the account may do
  # inside the cluster is Kubernetes RBAC's business (bind its email there).
  role   = "roles/container.clusterViewer"
  member = "serviceAccount:${google_service_account.workflow[each.value.workflow].email}"
}

resource "google_project_iam_member" "prometheus_reader" {
  for_each = local.prometheus_google ? local.workflows : toset([])

  project = local.prometheus_project
  # Query Managed Service for Prometheus (each container's peak memory and CPU in reports);
  # only with metrics.prometheus.auth google in the values file.
  role   = "roles/monitoring.viewer"
  member = "serviceAccount:${google_service_account.workflow[each.key].email}"
}

# --- build account --------------------------------------------------------------------------

resource "google_service_account" "build" {
  count = var.build_service_account == null ? 1 : 0

  project      = var.project_id
  account_id   = "${var.name_prefix}-build"
  display_name = "jobwarden function builds"
  description  = "Cloud Build builds the jobwarden functions as this account: reads their bundles, writes their images and its logs."

  depends_on = [google_project_service.this]
}

locals {
  build_service_account = var.build_service_account != null ? var.build_service_account : google_service_account.build[0].id
  build_member          = "serviceAccount:${element(split("/", local.build_service_account), 3)}"
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.sources.name
  role   = "roles/storage.objectViewer"
  member = local.build_member
}

resource "google_artifact_registry_repository_iam_member" "build_writes_images" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = local.build_member
}

resource "google_project_iam_member" "build_log_writer" {
  project = var.project_id
  # Build logs; Cloud Logging offers this role at project level only.
  role   = "roles/logging.logWriter"
  member = local.build_member
}

# --- push delivery --------------------------------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "push_invoker" {
  for_each = local.event_targets

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

resource "google_service_account_iam_member" "push_token_creator" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# --- dead-lettering -------------------------------------------------------------------------

resource "google_pubsub_topic_iam_member" "dead_letter_publisher" {
  project = var.project_id
  topic   = google_pubsub_topic.dead_letter.name
  role    = "roles/pubsub.publisher"
  member  = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_forwarder" {
  for_each = google_pubsub_subscription.workflow

  project      = var.project_id
  subscription = each.value.name
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "dead_letter_reader" {
  for_each = toset(var.dead_letter_readers)

  project      = var.project_id
  subscription = google_pubsub_subscription.dead_letter.name
  role         = "roles/pubsub.subscriber"
  member       = each.key
}

# --- HTTP invokers --------------------------------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "http_invoker" {
  # Listed members only (validated: never allUsers or allAuthenticatedUsers).
  for_each = merge({}, [
    for target, t in local.people_http_targets : {
      for member in(contains(local.confirming_targets, target) ? var.action_invokers : var.report_invokers) :
      "${target} ${member}" => { target = target, member = member }
    }
  ]...)

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.value.target].service_config[0].service
  role     = "roles/run.invoker"
  member   = each.value.member
}

# IAP forwards the requests it let through as its service agent: the only invoker the load
# balancer's traffic needs. Who may pass IAP is IAP's business (roles/iap.httpsResourceAccessor
# on the backend service, README: IAP); jobwarden then checks the assertion and RBAC.
resource "google_cloud_run_v2_service_iam_member" "iap_invoker" {
  for_each = local.iap ? local.people_http_targets : {}

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.fn[each.key].service_config[0].service
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_project_service_identity.iap[0].email}"
}

# --- exporter -------------------------------------------------------------------------------

# Each cluster's exporter publishes to its own topic only.
resource "google_pubsub_topic_iam_member" "exporter_publisher" {
  for_each = var.clusters

  project = var.project_id
  topic   = google_pubsub_topic.cluster[each.key].name
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${google_service_account.exporter[each.key].email}"
}

# ... and only that cluster's exporter (plus its additional_members) may act as its account;
# checks.tf refuses one member for two clusters.
resource "google_service_account_iam_member" "exporter_workload_identity" {
  for_each = local.exporter_bindings

  service_account_id = google_service_account.exporter[each.value.cluster].name
  role               = "roles/iam.workloadIdentityUser"
  member             = each.value.member
}
