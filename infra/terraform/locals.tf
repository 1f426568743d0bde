# Everything here derives from the inputs alone (no resource or data source): the tests
# evaluate this file with OpenTofu, without providers.
locals {
  # Every functions-framework target declared in functions/*/main.py, with the bundle folder
  # it deploys from (build/<source>/, one per functions/ folder) and its signature.
  # tests/unit/test_terraform.py keeps this table in step with the decorators.
  targets = {
    job_failure_reporter          = { source = "job_failure_reporter", signature = "cloudevent" }
    job_info_enricher             = { source = "job_info_enricher", signature = "cloudevent" }
    job_info_enricher_http        = { source = "job_info_enricher", signature = "http" }
    job_events_enricher           = { source = "job_events_enricher", signature = "cloudevent" }
    job_events_enricher_http      = { source = "job_events_enricher", signature = "http" }
    job_pod_enricher              = { source = "job_pod_enricher", signature = "cloudevent" }
    job_pod_enricher_http         = { source = "job_pod_enricher", signature = "http" }
    job_performance_analysis      = { source = "job_performance_analysis", signature = "cloudevent" }
    job_performance_analysis_http = { source = "job_performance_analysis", signature = "http" }
    job_performance_digest        = { source = "job_performance_analysis", signature = "http" }
    job_restart                   = { source = "job_restart", signature = "http" }
    job_delete                    = { source = "job_delete", signature = "http" }
    job_reports                   = { source = "job_reports", signature = "http" }
  }

  # Default subscription filter per event target (ARCHITECTURE.md §3.1), on the Pub/Sub attributes
  # jobwarden's exporter sets (jobwarden.jobevent.pubsub_attributes: type = the bare
  # transition, cluster, namespace, job, reason, and eventType for "event"). The local push
  # bridge uses the same filters (jobwarden_dev.bridge.FILTERS; a test compares them).
  # kubernetes-event-exporter messages carry no attributes at all, so these filters would
  # drop every one of them: var.attribute_filters = false turns them off.
  default_filters = {
    job_failure_reporter     = "attributes.type = \"failed\" OR attributes.type = \"stuck\" OR attributes.type = \"missed\" OR attributes.type = \"no-success\" OR (attributes.type = \"succeeded\" AND (attributes:cronjob OR attributes:retryOf))"
    job_info_enricher        = "attributes.type = \"failed\" OR attributes.type = \"stuck\""
    job_events_enricher      = "attributes.type = \"failed\" OR attributes.type = \"stuck\" OR (attributes.type = \"event\" AND attributes.eventType = \"Warning\")"
    job_pod_enricher         = "attributes.type = \"failed\" OR attributes.type = \"stuck\""
    job_performance_analysis = "attributes.type = \"succeeded\" OR attributes.type = \"failed\""
  }

  # One service account per workflow (functions/ folder); its _http variant shares it.
  workflow_accounts = {
    job_failure_reporter     = "failure"
    job_info_enricher        = "info"
    job_events_enricher      = "events"
    job_pod_enricher         = "pods"
    job_performance_analysis = "perf"
    job_restart              = "restart"
    job_delete               = "delete"
    job_reports              = "reports"
  }

  # Targets whose reports go to webhooks (jobwarden.publish), by workflow key: the event
  # targets, restart and delete (their outcomes), the performance regressions and digest.
  # The on-demand _http targets only store their reports.
  webhook_posters = {
    job_failure_reporter     = "jobFailureReporter"
    job_info_enricher        = "jobInfoEnricher"
    job_events_enricher      = "jobEventsEnricher"
    job_pod_enricher         = "jobPodEnricher"
    job_performance_analysis = "jobPerformanceAnalysis"
    job_performance_digest   = "jobPerformanceAnalysis"
    job_restart              = "jobRestart"
    job_delete               = "jobDelete"
  }

  # Targets that sign confirmation tokens (security.confirmationSecretEnv).
  confirming_targets = ["job_restart", "job_delete"]

  # --- settings per target ------------------------------------------------------------------

  function_settings = {
    for name, t in local.targets : name => {
      source          = t.source
      signature       = t.signature
      enabled         = try(var.functions[name].enabled, true)
      memory          = coalesce(try(var.functions[name].memory, null), var.function_defaults.memory)
      cpu             = try(coalesce(try(var.functions[name].cpu, null), var.function_defaults.cpu), null)
      timeout_seconds = coalesce(try(var.functions[name].timeout_seconds, null), var.function_defaults.timeout_seconds)
      min_instances   = coalesce(try(var.functions[name].min_instances, null), var.function_defaults.min_instances)
      max_instances   = coalesce(try(var.functions[name].max_instances, null), var.function_defaults.max_instances)
    }
  }
  enabled_targets = { for name, t in local.function_settings : name => t if t.enabled }
  # Workflows (functions/ folders) with at least one enabled target.
  workflows = toset([for name, t in local.enabled_targets : t.source])

  deployed_targets = var.deploy_functions ? local.enabled_targets : {}
  deployed_sources = toset([for name, t in local.deployed_targets : t.source])
  event_targets    = { for name, t in local.deployed_targets : name => t if t.signature == "cloudevent" }
  http_targets     = { for name, t in local.deployed_targets : name => t if t.signature == "http" }
  # The per-cluster digest job (scheduler.tf): its function deployed and a schedule set.
  # job_performance_digest is invoked by the scheduler's account only, never by people.
  people_http_targets = { for name, t in local.http_targets : name => t if name != "job_performance_digest" }
  digest_scheduled    = contains(keys(local.deployed_targets), "job_performance_digest") && var.digest_schedule != null

  subscription_filter = {
    for name in keys(local.default_filters) : name => (
      var.attribute_filters ? lookup(var.subscription_filters, name, local.default_filters[name]) : null
    )
  }

  bundle_dir  = coalesce(var.bundle_dir, "${path.module}/../../build")
  archive_dir = coalesce(var.archive_dir, "${local.bundle_dir}/.zips")

  # --- names ----------------------------------------------------------------------------------

  reports_bucket  = coalesce(var.reports_bucket_name, "${var.project_id}-${var.name_prefix}-reports")
  sources_bucket  = "${var.project_id}-${var.name_prefix}-sources"
  bucket_location = coalesce(var.bucket_location, var.region)
  storage_url     = "gs://${local.reports_bucket}/${var.storage_prefix}"
  labels          = merge({ "managed-by" = "terraform", "app" = "jobwarden" }, var.labels)

  # --- secrets (resources only: values are added out of band and never enter state) --------

  # Environment variable names the generated configuration points jobwarden at.
  config_env  = "JOBWARDEN_CONFIG"
  confirm_env = "JOBWARDEN_CONFIRM_SECRET"
  config_dir  = "/etc/jobwarden/config"
  config_file = "config.yaml"

  webhook_env = {
    for name, w in var.webhooks : name => upper(replace(name, "-", "_"))
  }
  # Which event targets post to each webhook (its `workflows`, or every poster).
  webhook_targets = {
    for name, w in var.webhooks : name => [
      for target, key in local.webhook_posters : target if w.workflows == null || contains(coalesce(w.workflows, []), key)
    ]
  }

  secrets = merge(
    {
      confirm = {
        secret_id = "${var.name_prefix}-confirm-secret"
        purpose   = "key that signs restart/delete confirmation tokens (any long random string)"
        env       = local.confirm_env
        targets   = local.confirming_targets
      }
    },
    {
      for name, w in var.webhooks : "webhook-${name}-url" => {
        secret_id = "${var.name_prefix}-webhook-${name}-url"
        purpose   = "URL of webhook ${name} (${w.type})"
        env       = "JOBWARDEN_WEBHOOK_${local.webhook_env[name]}_URL"
        targets   = local.webhook_targets[name]
      }
    },
    {
      for name, w in var.webhooks : "webhook-${name}-hmac" => {
        secret_id = "${var.name_prefix}-webhook-${name}-hmac"
        purpose   = "HMAC-SHA256 key that signs the JSON posted to webhook ${name}"
        env       = "JOBWARDEN_WEBHOOK_${local.webhook_env[name]}_HMAC"
        targets   = local.webhook_targets[name]
      } if w.type == "json"
    },
    {
      for name, c in var.clusters : "cluster-${name}-kubeconfig" => {
        secret_id = "${var.name_prefix}-cluster-${name}-kubeconfig"
        purpose   = "kubeconfig (server, CA, token or client certificate) of cluster ${name}"
        env       = null
        targets   = keys(local.targets)
      } if c.kubeconfig_secret
    },
  )

  # Two stages per secret, so adding one never breaks an apply: Terraform creates it (no
  # value), you add a value, then name its version in var.secret_versions. Until then no
  # function mounts it (Cloud Run refuses a function whose secret has no version) and what
  # it serves (a webhook, a kubeconfig cluster) stays out of the configuration file.
  secret_version  = { for key, s in local.secrets : key => lookup(var.secret_versions, key, null) }
  pending_secrets = sort([for key, v in local.secret_version : key if v == null])

  # Secret environment variables of each deployed target: env name => {secret key, version}.
  secret_env = {
    for target in keys(local.deployed_targets) : target => {
      for key, s in local.secrets : s.env => { secret = key, version = local.secret_version[key] }
      if s.env != null && contains(s.targets, target) && local.secret_version[key] != null
    }
  }
  # (secret, workflow service account) pairs for secretAccessor, from the enabled targets.
  secret_readers = merge({}, [
    for key, s in local.secrets : {
      for source in distinct([for t in s.targets : local.targets[t].source if contains(keys(local.enabled_targets), t)]) :
      "${key}/${source}" => { secret = key, workflow = source }
    }
  ]...)

  # Kubeconfig clusters whose secret has a version: mounted, and in the configuration file.
  kubeconfig_clusters = {
    for name, c in var.clusters : name => merge(c, { version = local.secret_version["cluster-${name}-kubeconfig"] })
    if c.kubeconfig_secret && local.secret_version["cluster-${name}-kubeconfig"] != null
  }
  configured_clusters = sort([for name, c in var.clusters : name if !c.kubeconfig_secret || contains(keys(local.kubeconfig_clusters), name)])
  # Webhooks whose URL (and, for json, HMAC key) have a version.
  configured_webhooks = sort([
    for name, w in var.webhooks : name
    if local.secret_version["webhook-${name}-url"] != null && (w.type != "json" || try(local.secret_version["webhook-${name}-hmac"], null) != null)
  ])

  # --- the configuration file the functions read (JOBWARDEN_CONFIG) -------------------------

  # The configuration keys of the one values file (the exporter chart's values, var.values_file)
  # that the Cloud Run functions take as they are. clusters and sinks name what this module
  # creates (topics, secrets, the bucket), so they come from its inputs instead.
  values      = yamldecode(var.values_file == null ? "{}" : file(var.values_file))
  values_keys = ["workflows", "security", "restart", "exporter"]
  # `metrics` also holds the chart's own scrapeAnnotations, which is not configuration.
  values_metrics = { for k, v in try(local.values.metrics, {}) : k => v if k != "scrapeAnnotations" }
  values_config = merge(
    { for key in local.values_keys : key => local.values[key] if try(local.values[key], null) != null },
    length(local.values_metrics) > 0 ? { metrics = local.values_metrics } : {},
  )
  # Managed Service for Prometheus (metrics.prometheus.auth: google): the workflows read
  # usage as themselves, in the project the URL names (this project when it names none).
  prometheus_google  = try(local.values.metrics.prometheus.auth, "none") == "google"
  prometheus_project = try(regex("projects/([^/]+)/", local.values.metrics.prometheus.url)[0], var.project_id)
  # Keys of the values file the functions' configuration does not take from it (a check warns),
  # unless they hold no more than the chart's defaults (`helm show values` writes those).
  values_ignored = sort(compact([
    try(local.values.clusters, null) != null ? "clusters" : "",
    length(try(local.values.sinks.webhooks, [])) > 0 || try(local.values.sinks.storage.url, "file://./reports") != "file://./reports" ? "sinks" : "",
  ]))

  # Not secret: jobwarden's configuration names environment variables and paths, and its
  # loader refuses secret values. It is stored as a Secret Manager secret only because that
  # is how a Cloud Run function mounts a file.
  config = merge(local.values_config, {
    clusters = [
      # GKE: endpoint and CA from the container API; otherwise the kubeconfig mounted from
      # the cluster's secret. jobwarden reads a null key as absent.
      # gke.endpoint is written only when it is "dns" (jobwarden reads the address from
      # controlPlaneEndpointsConfig.dnsEndpointConfig.endpoint then); "ip" is the default.
      for name in local.configured_clusters : {
        name = name
        gke = var.clusters[name].gke == null ? null : merge(
          { for k, v in var.clusters[name].gke : k => v if k != "endpoint" },
          var.clusters[name].gke.endpoint == "dns" ? { endpoint = "dns" } : {},
        )
        kubeconfig = var.clusters[name].kubeconfig_secret ? "/etc/jobwarden/clusters/${name}/kubeconfig" : null
        # Only messages from this topic are believed about this cluster.
        pubsubTopic = local.cluster_topic_id[name]
      }
    ]
    sinks = {
      storage = { url = local.storage_url }
      webhooks = [
        for name in local.configured_webhooks : merge(
          {
            name   = name
            type   = var.webhooks[name].type
            urlEnv = "JOBWARDEN_WEBHOOK_${local.webhook_env[name]}_URL"
          },
          var.webhooks[name].type == "json" ? { secretEnv = "JOBWARDEN_WEBHOOK_${local.webhook_env[name]}_HMAC" } : {},
          var.webhooks[name].workflows != null ? { workflows = var.webhooks[name].workflows } : {},
        )
      ]
    }
    security = merge(try(local.values_config.security, {}), {
      confirmationSecretEnv = local.confirm_env
      authentication        = var.authentication.mode
      # jobwarden reads a null key as absent; jwksUrl only when given (its default is Google's)
      iap = local.iap ? merge(
        { audience = var.authentication.iap_audience },
        var.authentication.iap_jwks_url == null ? {} : { jwksUrl = var.authentication.iap_jwks_url },
      ) : null
    })
  })
  # JSON, which is YAML too: the functions read a JSON file without importing PyYAML
  # (89M instructions of every cold start). The name stays: it is the module's output.
  config_yaml = jsonencode(local.config)

  # --- one channel per cluster: topic, exporter account, subscriptions ----------------------

  # Events come from the cluster they name. Each cluster has its own topic, which only its
  # own exporter account may publish to; the configuration names it (clusters[].pubsubTopic)
  # and the functions believe a message about cluster C only when its CloudEvent source is
  # C's topic: the push endpoint's path, which the subscription of C's topic sets.
  cluster_topic    = { for name in keys(var.clusters) : name => "${var.topic_name}-${name}" }
  cluster_topic_id = { for name, topic in local.cluster_topic : name => "projects/${var.project_id}/topics/${topic}" }

  # Service account ids are 6-30 characters. "<prefix>-exporter-<cluster>" when it fits
  # (jobwarden-exporter-prod-eu); otherwise "<prefix>-exp-<the first hex digits of the
  # cluster name's SHA-256>", as many as fit (at most 8, at least 4 with a 21-character
  # prefix). Both depend on the names only, so an id never changes while they do not;
  # checks.tf refuses two clusters landing on one id. The display name keeps the cluster.
  exporter_account_id = {
    for name in keys(var.clusters) : name => (
      length("${var.name_prefix}-exporter-${name}") <= 30 ? "${var.name_prefix}-exporter-${name}" :
      "${var.name_prefix}-exp-${substr(sha256(name), 0, min(8, 25 - length(var.name_prefix)))}"
    )
  }

  # Workload Identity members allowed to act as each cluster's exporter account.
  exporter_members = {
    for name, c in var.clusters : name => distinct(compact(concat([
      c.exporter.workload_identity_member != null ? c.exporter.workload_identity_member :
      c.gke != null ? "serviceAccount:${c.gke.project}.svc.id.goog[${c.exporter.namespace}/${c.exporter.service_account}]" : ""
    ], c.exporter.additional_members)))
  }
  exporter_bindings = merge({}, [
    for name, members in local.exporter_members : {
      for member in members : "${name} ${member}" => { cluster = name, member = member }
    }
  ]...)
  # A member bound for two clusters could publish as either: GKE clusters of one project
  # share one identity pool, where the same namespace/KSA is the same principal in every
  # cluster. checks.tf refuses it.
  shared_exporter_members = {
    for member in distinct([for b in values(local.exporter_bindings) : b.member]) :
    member => sort([for b in values(local.exporter_bindings) : b.cluster if b.member == member])
    if length([for b in values(local.exporter_bindings) : b if b.member == member]) > 1
  }

  # One push subscription per (event workflow, cluster topic): same filter, retry and
  # dead-letter policy for every cluster; the push endpoint's path names the cluster's topic.
  workflow_subscriptions = merge({}, [
    for target in keys(local.event_targets) : {
      for cluster, topic in local.cluster_topic : "${target}/${cluster}" => {
        target    = target
        cluster   = cluster
        name      = "${topic}-${target}"
        topic     = topic
        push_path = "/${local.cluster_topic_id[cluster]}"
      }
    }
  ]...)

  # --- HTTP functions -----------------------------------------------------------------------

  # With IAP the HTTP functions are reached through the load balancer only: a caller going
  # to the run.app URL directly would bring no IAP assertion (jobwarden answers 401), and
  # ALLOW_ALL is refused at plan (checks.tf). ALLOW_INTERNAL_ONLY stays possible (an internal
  # Application Load Balancer counts as internal).
  iap          = var.authentication.mode == "iap"
  http_ingress = coalesce(var.http_ingress, local.iap ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL")

  # --- build and network ------------------------------------------------------------------

  vpc_connector = try(var.vpc_egress.connector, null)
  direct_vpc = try(var.vpc_egress.network, null) == null ? [] : [{
    network    = var.vpc_egress.network
    subnetwork = var.vpc_egress.subnetwork
    tags       = var.vpc_egress.tags
  }]
  vpc_traffic = try(var.vpc_egress.traffic, "PRIVATE_RANGES_ONLY")

  # The largest timeout of an enabled event target: the push request timeout must exceed it.
  event_timeouts = { for name, t in local.enabled_targets : name => t.timeout_seconds if t.signature == "cloudevent" }

  # Projects holding GKE clusters: each workflow account may read their endpoint and CA.
  gke_projects = toset([for name, c in var.clusters : c.gke.project if c.gke != null])
  cluster_viewers = {
    for pair in setproduct(local.gke_projects, local.workflows) : "${pair[0]}/${pair[1]}" => {
      project  = pair[0]
      workflow = pair[1]
    }
  }
}
