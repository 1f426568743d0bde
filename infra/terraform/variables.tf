# Inputs of the jobwarden module. Every input is typed, described and, where a wrong value
# would only fail at apply time (or silently weaken security), validated here.

# --- where ----------------------------------------------------------------------------------

variable "project_id" {
  type        = string
  description = "Google Cloud project that hosts the topic, the functions, the buckets, the secrets and the service accounts."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project ID (6-30 characters: a-z, 0-9, '-'), not a project name or number."
  }
}

variable "region" {
  type        = string
  description = "Region of the Cloud Run functions (and, unless bucket_location says otherwise, of the buckets)."

  validation {
    condition     = can(regex("^[a-z]+(-[a-z]+)+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west1 (a region, not a zone)."
  }
}

variable "name_prefix" {
  type        = string
  default     = "jobwarden"
  description = "Prefix of every function, service account, secret and default bucket name; lets two installations share a project."

  validation {
    # Service account ids are at most 30 characters: the prefix plus "-exp-" and a short hash
    # of the cluster name must fit (locals.tf: exporter_account_id).
    condition     = can(regex("^[a-z]([a-z0-9-]{0,19}[a-z0-9])?$", var.name_prefix))
    error_message = "name_prefix must be 1-21 characters of a-z, 0-9 and '-', start with a letter and not end with '-'."
  }
}

variable "labels" {
  type        = map(string)
  default     = {}
  description = "Labels added to every resource that takes labels."

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys must start with a lowercase letter; keys and values use only a-z, 0-9, '_' and '-' (at most 63)."
  }
}

variable "enable_apis" {
  type        = bool
  default     = true
  description = "Enable the Google APIs the module uses (they stay enabled on destroy). Turn off where a platform team manages APIs."
}

# --- function bundles -------------------------------------------------------------------------

variable "bundle_dir" {
  type        = string
  default     = null
  description = "Folder written by `make bundle`, holding one `<function>/` bundle per function folder. Default: the repository's `build/` (`<module>/../../build`)."
}

variable "archive_dir" {
  type        = string
  default     = null
  description = "Where the zipped bundles are written before upload. Default: `<bundle_dir>/.zips`."
}

variable "deploy_functions" {
  type        = bool
  default     = true
  description = "Deploy the Cloud Run functions and their push subscriptions. Setting it false DESTROYS every function and subscription (messages waiting in them are lost): it is not how secrets are added (see secret_versions); use it only for an installation without functions."
}

variable "secret_versions" {
  type        = map(string)
  default     = {}
  description = "The version of each secret the functions mount, by the key `terraform output secrets` shows (confirm, webhook-<name>-url, webhook-<name>-hmac, cluster-<name>-kubeconfig): a version number (\"1\") pins it, so a new number rolls the functions to a new revision; \"latest\" reads the newest version when an instance starts. A secret not listed has no value yet: no function mounts it (Cloud Run refuses to deploy a function whose secret has no version), its webhook or cluster stays out of the configuration file, and the functions deploy without it."

  validation {
    condition     = alltrue([for k, v in var.secret_versions : v == "latest" || can(regex("^[1-9][0-9]*$", v))])
    error_message = "secret_versions values must be a version number such as \"1\" or \"latest\"."
  }
}

variable "python_runtime" {
  type        = string
  default     = "python311"
  description = "Cloud Run functions runtime of every function. The default is the Python the bundles are smoke-tested with and the container images use (functions/Dockerfile, exporter/Dockerfile); change all three together."

  validation {
    condition     = contains(["python311", "python312", "python313"], var.python_runtime)
    error_message = "python_runtime must be python311, python312 or python313 (jobwarden needs Python 3.11 or later)."
  }
}

variable "build_service_account" {
  type        = string
  default     = null
  description = "Full name (projects/P/serviceAccounts/EMAIL) of an existing service account Cloud Build uses to build the functions. null (default): the module creates <name_prefix>-build with the documented roles (roles/logging.logWriter on the project, roles/artifactregistry.writer on the functions' image repository, roles/storage.objectViewer on the source bucket). Since mid-2024 Cloud Build in a new project builds as the Compute Engine default account, which organisations often leave without these roles. An account given here gets the same grants."

  validation {
    condition     = var.build_service_account == null || can(regex("^projects/[^/]+/serviceAccounts/[^/@]+@[^/]+$", var.build_service_account))
    error_message = "build_service_account must look like projects/PROJECT/serviceAccounts/NAME@PROJECT.iam.gserviceaccount.com."
  }
}

variable "images_kept" {
  type        = number
  default     = 5
  description = "Function images kept per function in the module's Artifact Registry repository (the newest ones: the running revision's image is always among them); older ones are deleted once they are image_retention_days old."

  validation {
    condition     = var.images_kept >= 1 && floor(var.images_kept) == var.images_kept
    error_message = "images_kept must be a whole number, at least 1."
  }
}

variable "image_retention_days" {
  type        = number
  default     = 30
  description = "Days after which a function image beyond the newest images_kept is deleted by the repository's cleanup policy."

  validation {
    condition     = var.image_retention_days >= 1 && floor(var.image_retention_days) == var.image_retention_days
    error_message = "image_retention_days must be a whole number of days, at least 1."
  }
}

variable "vpc_egress" {
  type = object({
    # A Serverless VPC Access connector: projects/P/locations/REGION/connectors/NAME ...
    connector = optional(string)
    # ... or Direct VPC egress (no connector): the network and subnetwork the instances join.
    network    = optional(string)
    subnetwork = optional(string)
    tags       = optional(list(string), [])
    # PRIVATE_RANGES_ONLY: only RFC 1918 destinations (a private control plane) go through
    # the VPC; ALL_TRAFFIC: everything, Google APIs and webhooks included (needs Cloud NAT).
    traffic = optional(string, "PRIVATE_RANGES_ONLY")
  })
  default     = null
  description = "Route the functions' traffic into a VPC, to reach GKE control planes on private IPs: either `connector` (Serverless VPC Access) or `network` + `subnetwork` (Direct VPC egress). null: no VPC. Clusters reached through GKE's DNS-based control-plane endpoint (clusters.<name>.gke.endpoint = \"dns\") need none (README: Private clusters)."

  validation {
    condition     = var.vpc_egress == null || ((try(var.vpc_egress.connector, null) != null) != (try(var.vpc_egress.network, null) != null || try(var.vpc_egress.subnetwork, null) != null))
    error_message = "vpc_egress takes either connector (Serverless VPC Access) or network and subnetwork (Direct VPC egress), not both and not neither."
  }

  validation {
    condition     = var.vpc_egress == null || try(var.vpc_egress.connector, null) == null || can(regex("^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/locations/[a-z]+(-[a-z]+)+[0-9]+/connectors/[a-z][-a-z0-9]{0,23}[a-z0-9]$", var.vpc_egress.connector))
    error_message = "vpc_egress.connector must be a connector id: projects/PROJECT/locations/REGION/connectors/NAME."
  }

  validation {
    condition     = var.vpc_egress == null || try(var.vpc_egress.network, null) == null || (try(var.vpc_egress.subnetwork, null) != null && length(coalesce(try(var.vpc_egress.network, null), "")) > 0)
    error_message = "Direct VPC egress needs both vpc_egress.network and vpc_egress.subnetwork (names or self links)."
  }

  validation {
    condition     = var.vpc_egress == null || contains(["PRIVATE_RANGES_ONLY", "ALL_TRAFFIC"], try(var.vpc_egress.traffic, "PRIVATE_RANGES_ONLY"))
    error_message = "vpc_egress.traffic must be PRIVATE_RANGES_ONLY or ALL_TRAFFIC."
  }
}

variable "functions" {
  type = map(object({
    enabled         = optional(bool, true)
    memory          = optional(string)
    cpu             = optional(string)
    timeout_seconds = optional(number)
    min_instances   = optional(number)
    max_instances   = optional(number)
  }))
  default     = {}
  description = "Per-target overrides, keyed by functions-framework target (job_failure_reporter, job_info_enricher_http, job_restart, ...). `enabled = false` leaves the function (and, for an event target, its subscription) out; unset fields take function_defaults."

  validation {
    condition = alltrue([for k in keys(var.functions) : contains([
      "job_failure_reporter", "job_info_enricher", "job_info_enricher_http", "job_events_enricher",
      "job_events_enricher_http", "job_pod_enricher", "job_pod_enricher_http", "job_performance_analysis",
      "job_performance_analysis_http", "job_restart", "job_delete", "job_reports",
    ], k)])
    error_message = "functions keys must be functions-framework targets of functions/*/main.py (for example job_failure_reporter or job_restart)."
  }
}

variable "function_defaults" {
  type = object({
    memory          = optional(string, "512Mi")
    cpu             = optional(string)
    timeout_seconds = optional(number, 300)
    min_instances   = optional(number, 0)
    max_instances   = optional(number, 10)
  })
  default     = {}
  description = "Memory, CPU (null: derived from memory), timeout and instance limits of every function unless `functions` overrides them."

  validation {
    condition     = var.function_defaults.timeout_seconds >= 1 && var.function_defaults.timeout_seconds <= 3600 && var.function_defaults.min_instances >= 0 && var.function_defaults.max_instances >= 1
    error_message = "function_defaults: timeout_seconds in 1..3600, min_instances >= 0, max_instances >= 1."
  }
}

# --- Pub/Sub delivery -------------------------------------------------------------------------

variable "topic_name" {
  type        = string
  default     = "job-events"
  description = "Prefix of the per-cluster topics: cluster C's exporter publishes to projects/<project_id>/topics/<topic_name>-C (`terraform output exporters`), its subscriptions are <topic_name>-C-<target>. The dead-letter topic is <topic_name>-dead-letter."

  validation {
    # at most 150, so that <topic_name>-<cluster>-<target> fits Pub/Sub's 255
    condition     = can(regex("^[a-zA-Z][a-zA-Z0-9._~%+-]{2,149}$", var.topic_name)) && !startswith(lower(var.topic_name), "goog")
    error_message = "topic_name must be 3-150 characters, start with a letter, use letters, digits and . _ ~ % + -, and not start with 'goog'."
  }
}

variable "attribute_filters" {
  type        = bool
  default     = true
  description = "Filter each workflow's subscription on the message attributes jobwarden's exporter sets (type, eventType, ...). kubernetes-event-exporter publishes messages WITHOUT attributes, which a filtered subscription never receives: set false when it is a source; each function then ignores what is not its own."
}

variable "subscription_filters" {
  type        = map(string)
  default     = {}
  description = "Replacement filters per event target (for example job_info_enricher = \"attributes.type = \\\"failed\\\" OR attributes.type = \\\"started\\\"\"). Ignored when attribute_filters is false."

  validation {
    condition = alltrue([for k, f in var.subscription_filters : contains([
      "job_failure_reporter", "job_info_enricher", "job_events_enricher", "job_pod_enricher",
      "job_performance_analysis",
    ], k) && length(f) > 0 && length(f) <= 256])
    error_message = "subscription_filters keys must be event targets (job_failure_reporter, job_info_enricher, job_events_enricher, job_pod_enricher, job_performance_analysis); filters are 1-256 characters."
  }
}

variable "max_delivery_attempts" {
  type        = number
  default     = 10
  description = "Deliveries of a message to a function (each answered 5xx or timed out) before it goes to the dead-letter topic."

  validation {
    condition     = var.max_delivery_attempts >= 5 && var.max_delivery_attempts <= 100 && floor(var.max_delivery_attempts) == var.max_delivery_attempts
    error_message = "max_delivery_attempts must be a whole number from 5 to 100 (the Pub/Sub limits)."
  }
}

variable "retry_minimum_backoff" {
  type        = string
  default     = "10s"
  description = "Smallest delay before a failed delivery is retried (exponential backoff up to retry_maximum_backoff)."

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]{1,9})?s$", var.retry_minimum_backoff)) && tonumber(trimsuffix(var.retry_minimum_backoff, "s")) <= 600
    error_message = "retry_minimum_backoff must be a duration in seconds such as \"10s\", at most \"600s\"."
  }
}

variable "retry_maximum_backoff" {
  type        = string
  default     = "600s"
  description = "Largest delay between retries of a failed delivery."

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]{1,9})?s$", var.retry_maximum_backoff)) && tonumber(trimsuffix(var.retry_maximum_backoff, "s")) <= 600
    error_message = "retry_maximum_backoff must be a duration in seconds such as \"600s\", at most \"600s\"."
  }
}

variable "ack_deadline_seconds" {
  type        = number
  default     = 360
  description = "How long Pub/Sub waits for a function to answer a push before it counts the delivery as failed. Must be at least every event function's timeout_seconds + 60 (a cold start and the request's queueing come on top of the function's own timeout; checked at plan)."

  validation {
    condition     = var.ack_deadline_seconds >= 10 && var.ack_deadline_seconds <= 600
    error_message = "ack_deadline_seconds must be from 10 to 600."
  }
}

variable "message_retention_duration" {
  type        = string
  default     = "604800s"
  description = "How long an undelivered message is kept in a workflow subscription and in the dead-letter subscription (at most 7 days)."

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention_duration)) && tonumber(trimsuffix(var.message_retention_duration, "s")) >= 600 && tonumber(trimsuffix(var.message_retention_duration, "s")) <= 604800
    error_message = "message_retention_duration must be whole seconds from \"600s\" to \"604800s\"."
  }
}

variable "dead_letter_readers" {
  type        = list(string)
  default     = []
  description = "IAM members that may pull (and so inspect and acknowledge) dead-lettered messages, e.g. group:sre@example.com."

  validation {
    condition     = alltrue([for m in var.dead_letter_readers : can(regex("^(user|group|serviceAccount|domain):.+$|^principal(Set)?://.+$", m)) && !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "dead_letter_readers must be IAM members (user:, group:, serviceAccount:, domain:, principal://, principalSet://); allUsers and allAuthenticatedUsers are refused."
  }
}

# --- HTTP functions ---------------------------------------------------------------------------

variable "action_invokers" {
  type        = list(string)
  default     = []
  description = "IAM members given roles/run.invoker on job_restart and job_delete. jobwarden still checks each caller's Kubernetes token and RBAC (TokenReview, SubjectAccessReview) behind this."

  validation {
    condition     = alltrue([for m in var.action_invokers : can(regex("^(user|group|serviceAccount|domain):.+$|^principal(Set)?://.+$", m)) && !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "action_invokers must be IAM members (user:, group:, serviceAccount:, domain:, principal://, principalSet://); allUsers and allAuthenticatedUsers are refused."
  }
}

variable "report_invokers" {
  type        = list(string)
  default     = []
  description = "IAM members given roles/run.invoker on the on-demand report functions (job_*_enricher_http, job_performance_analysis_http)."

  validation {
    condition     = alltrue([for m in var.report_invokers : can(regex("^(user|group|serviceAccount|domain):.+$|^principal(Set)?://.+$", m)) && !contains(["allUsers", "allAuthenticatedUsers"], m)])
    error_message = "report_invokers must be IAM members (user:, group:, serviceAccount:, domain:, principal://, principalSet://); allUsers and allAuthenticatedUsers are refused."
  }
}

variable "authentication" {
  type = object({
    # "kubernetes-token": callers send a Kubernetes bearer token, which the target cluster
    # reviews (TokenReview). "iap": the HTTP functions sit behind a load balancer with
    # Identity-Aware Proxy, and the caller is the email in IAP's signed
    # X-Goog-IAP-JWT-Assertion (README: IAP).
    mode = optional(string, "kubernetes-token")
    # The audience IAP signs for: /projects/<project number>/global/backendServices/<id> of
    # the load balancer's backend service (or /projects/<number>/apps/<project id>).
    iap_audience = optional(string)
    # Where IAP publishes its public keys; null: jobwarden's default (Google's).
    iap_jwks_url = optional(string)
  })
  default     = {}
  nullable    = false
  description = "How the HTTP functions (restart, delete, on-demand reports) authenticate their callers: mode = \"kubernetes-token\" (default) or \"iap\" with iap_audience. Rendered into the configuration's security.authentication and security.iap. With iap the HTTP functions' ingress becomes ALLOW_INTERNAL_AND_GCLB (http_ingress = ALLOW_ALL is refused) and IAP's service agent may invoke them."

  validation {
    condition     = contains(["kubernetes-token", "iap"], var.authentication.mode)
    error_message = "authentication.mode must be \"kubernetes-token\" or \"iap\"."
  }

  validation {
    condition     = var.authentication.mode != "iap" || can(regex("^/projects/[0-9]+/(global/backendServices/[0-9]+|apps/[a-z][a-z0-9-]+)$", coalesce(var.authentication.iap_audience, "-")))
    error_message = "authentication.mode = \"iap\" needs iap_audience = \"/projects/<project number>/global/backendServices/<backend service id>\" (both numbers: `gcloud projects describe PROJECT --format='value(projectNumber)'`, `gcloud compute backend-services describe NAME --global --format='value(id)'`) or \"/projects/<project number>/apps/<project id>\"."
  }

  validation {
    condition     = var.authentication.mode == "iap" || (var.authentication.iap_audience == null && var.authentication.iap_jwks_url == null)
    error_message = "authentication.iap_audience and iap_jwks_url are only read with mode = \"iap\"."
  }

  validation {
    condition     = var.authentication.iap_jwks_url == null || can(regex("^https://", coalesce(var.authentication.iap_jwks_url, "-")))
    error_message = "authentication.iap_jwks_url must be an https:// URL."
  }
}

variable "http_ingress" {
  type        = string
  default     = null
  description = "Ingress of the HTTP functions. null: ALLOW_ALL (behind roles/run.invoker), or ALLOW_INTERNAL_AND_GCLB when authentication.mode is iap (reachable through the load balancer only; ALLOW_ALL is refused then, as it would let callers bypass IAP). ALLOW_INTERNAL_ONLY suits an internal load balancer. Event functions are always ALLOW_INTERNAL_ONLY (Pub/Sub push from the same project counts as internal)."

  validation {
    condition     = var.http_ingress == null || contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], coalesce(var.http_ingress, "-"))
    error_message = "http_ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

# --- storage ----------------------------------------------------------------------------------

variable "reports_bucket_name" {
  type        = string
  default     = null
  description = "Name of the bucket for reports, indexes, run records and audit records. Default: <project_id>-<name_prefix>-reports."

  validation {
    condition     = var.reports_bucket_name == null || can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.reports_bucket_name))
    error_message = "reports_bucket_name must be 3-63 characters of a-z, 0-9, '-' and '_' (no dots)."
  }
}

variable "bucket_location" {
  type        = string
  default     = null
  description = "Location of the reports and source buckets (a region or a multi-region such as EU). Default: region."
}

variable "storage_prefix" {
  type        = string
  default     = "reports"
  description = "Folder in the reports bucket under which jobwarden stores everything (sinks.storage.url = gs://<bucket>/<storage_prefix>)."

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.storage_prefix))
    error_message = "storage_prefix must be a relative object path such as reports or jobwarden/reports (no leading or trailing '/')."
  }
}

variable "retention_days" {
  type        = number
  default     = 90
  description = "Days after which a report, run record or audit record is deleted (it first becomes a noncurrent version). Performance analysis cannot look further back than this."

  validation {
    condition     = var.retention_days >= 1 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_retention_days" {
  type        = number
  default     = 7
  description = "Days a replaced or deleted object's previous version is kept (versioning guards against a bad write or delete)."

  validation {
    condition     = var.noncurrent_retention_days >= 1 && floor(var.noncurrent_retention_days) == var.noncurrent_retention_days
    error_message = "noncurrent_retention_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_versions_kept" {
  type        = number
  default     = 3
  description = "Previous versions kept per object at most; indexes are rewritten on every report, so this bounds their history."

  validation {
    condition     = var.noncurrent_versions_kept >= 1 && floor(var.noncurrent_versions_kept) == var.noncurrent_versions_kept
    error_message = "noncurrent_versions_kept must be a whole number, at least 1."
  }
}

variable "force_destroy" {
  type        = bool
  default     = false
  description = "Let `destroy` delete the buckets with their objects (reports included). Keep false outside test projects."
}

# --- clusters, webhooks, configuration ------------------------------------------------------

variable "clusters" {
  type = map(object({
    # Reach a GKE cluster with the function's own Google identity: endpoint and CA come from
    # the container API (roles/container.clusterViewer on `project`), Kubernetes RBAC binds
    # the function service accounts' emails.
    gke = optional(object({
      project  = string
      location = string
      cluster  = string
      # How the functions reach the control plane: "ip" (the address the container API
      # reports: public, or private when the public endpoint is off, which needs vpc_egress)
      # or "dns" (GKE's DNS-based endpoint: IAM-gated, reachable without a VPC; README:
      # Private clusters).
      endpoint = optional(string, "ip")
    }))
    # Any other cluster: a Secret Manager secret "<name_prefix>-cluster-<name>-kubeconfig"
    # holds a kubeconfig (server, CA data and a token or client certificate; no exec plugins),
    # mounted at /etc/jobwarden/clusters/<name>/kubeconfig. Its value is added out of band.
    kubeconfig_secret = optional(bool, false)
    exporter = optional(object({
      namespace       = optional(string, "jobwarden")
      service_account = optional(string, "jobwarden-exporter")
      # Full IAM member allowed to act as this cluster's exporter service account. Default for
      # GKE: serviceAccount:<gke.project>.svc.id.goog[<namespace>/<service_account>] (Workload
      # Identity). Other clusters: a Workload Identity Federation principal, or null for none.
      # GKE clusters of one project share one identity pool: give their exporters different
      # namespaces or service accounts, or each could publish as the other (refused at plan).
      workload_identity_member = optional(string)
      # Further members that publish for this cluster to its topic as its exporter account,
      # e.g. kubernetes-event-exporter's Kubernetes service account in the same cluster.
      additional_members = optional(list(string), [])
    }), {})
  }))
  description = "Clusters by the name events carry (the exporter's --cluster, kubernetes-event-exporter's clusterName): how the functions reach each one, and the exporter's Kubernetes service account there. Each cluster gets its own topic (<topic_name>-<cluster>) and exporter service account, which alone may publish to it; the functions believe a message about a cluster only from that cluster's topic."

  validation {
    condition     = length(var.clusters) > 0 && alltrue([for name, c in var.clusters : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name))])
    error_message = "clusters needs at least one entry; names must be DNS labels (a-z, 0-9, '-', at most 63)."
  }

  validation {
    # <topic_name>-<cluster> is the cluster's topic; <topic_name>-dead-letter is taken.
    condition     = !contains(keys(var.clusters), "dead-letter")
    error_message = "A cluster cannot be named dead-letter: its topic would be the dead-letter topic."
  }

  validation {
    condition     = alltrue([for name, c in var.clusters : c.gke == null || contains(["ip", "dns"], try(c.gke.endpoint, "ip"))])
    error_message = "clusters.<name>.gke.endpoint must be \"ip\" or \"dns\"."
  }

  validation {
    condition     = alltrue([for name, c in var.clusters : (c.gke != null) != c.kubeconfig_secret])
    error_message = "Each cluster needs exactly one of gke = {project, location, cluster} or kubeconfig_secret = true."
  }

  validation {
    condition = alltrue([for name, c in var.clusters : c.exporter.workload_identity_member == null || (
      can(regex("^(serviceAccount:[a-z0-9-]+\\.svc\\.id\\.goog\\[[a-z0-9-]+/[a-z0-9.-]+\\]|principal(Set)?://.+)$", c.exporter.workload_identity_member))
    )])
    error_message = "exporter.workload_identity_member must be serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA] or a principal:// / principalSet:// identity."
  }

  validation {
    condition = alltrue(flatten([for name, c in var.clusters : [for m in c.exporter.additional_members :
      can(regex("^(serviceAccount:[a-z0-9-]+\\.svc\\.id\\.goog\\[[a-z0-9-]+/[a-z0-9.-]+\\]|principal(Set)?://.+)$", m))
    ]]))
    error_message = "exporter.additional_members must be Workload Identity members: serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA] or principal:// / principalSet:// identities."
  }
}

variable "webhooks" {
  type = map(object({
    type      = string
    workflows = optional(list(string))
  }))
  default     = {}
  description = "Webhooks by name. Each gets a secret <name_prefix>-webhook-<name>-url (and, for type json, <name_prefix>-webhook-<name>-hmac) whose value you add out of band; the functions read them as JOBWARDEN_WEBHOOK_<NAME>_URL / _HMAC. `workflows` routes reports (absent: all)."

  validation {
    condition     = alltrue([for name, w in var.webhooks : can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name)) && contains(["slack", "teams", "json"], w.type)])
    error_message = "Webhook names must be DNS labels and type one of slack, teams, json."
  }

  validation {
    condition = alltrue([for name, w in var.webhooks : w.workflows == null || alltrue([for wf in coalesce(w.workflows, []) : contains([
      "jobFailureReporter", "jobInfoEnricher", "jobEventsEnricher", "jobPodEnricher", "jobRestart",
      "jobDelete", "jobPerformanceAnalysis",
    ], wf)])])
    error_message = "Webhook workflows must be jobwarden workflow keys (jobFailureReporter, jobInfoEnricher, jobEventsEnricher, jobPodEnricher, jobRestart, jobDelete, jobPerformanceAnalysis)."
  }
}

variable "values_file" {
  type        = string
  default     = null
  description = "Path of the Helm values file of infra/helm/jobwarden-exporter: the one file that configures jobwarden (README, Configuration). The module reads its configuration keys workflows, security, restart and exporter into the functions' configuration file; the chart's own keys are ignored, and so are clusters and sinks, which come from the clusters, webhooks and storage inputs (the module creates the topics, secrets and bucket they name). security.authentication, security.iap and security.confirmationSecretEnv are set by the module (a file whose authentication or IAP audience differs from the authentication input is refused at plan). null: jobwarden's defaults. A relative path is relative to the directory terraform runs in; use path.module in the calling configuration to be sure (the example does)."

  validation {
    condition     = var.values_file == null || can(yamldecode(file(var.values_file)))
    error_message = "values_file must name a readable YAML file: the exporter chart's values (e.g. infra/terraform/examples/two-clusters/jobwarden-values.yaml)."
  }

  validation {
    condition     = var.values_file == null || can(keys(yamldecode(file(var.values_file))))
    error_message = "values_file must hold a mapping of keys (Helm values), not a list or a single value."
  }
}
