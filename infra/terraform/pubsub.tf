# One topic per cluster (<topic_name>-<cluster>: only that cluster's exporter account may
# publish to it), one push subscription per event workflow and cluster topic (attribute
# filter, retry with exponential backoff, dead-letter policy), and the dead-letter topic
# with a pull subscription where undeliverable messages wait for a human.
#
# Why a topic per cluster: the functions believe a message about cluster C only when it
# came from C's topic (clusters[].pubsubTopic), so an exporter, or anyone holding its
# credentials, can report only on its own cluster.
#
# Why push subscriptions and not event_trigger: a 2nd gen function's event_trigger makes
# Eventarc create (and own) the subscription, which takes neither an attribute filter nor a
# dead-letter policy. Our own subscription pushes the Pub/Sub envelope to the function's URL
# with an OIDC token; functions-framework turns that envelope into a
# google.cloud.pubsub.topic.v1.messagePublished CloudEvent like the one Eventarc delivers.

resource "google_pubsub_topic" "cluster" {
  #checkov:skip=CKV_GCP_83:Encrypted at rest with Google-managed keys; the messages are Job transitions (names, reasons, status), the module offers no CMEK.
  for_each = var.clusters

  project = var.project_id
  name    = local.cluster_topic[each.key]
  labels  = merge(local.labels, { "jobwarden-cluster" = each.key })

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Encrypted at rest with Google-managed keys; the messages are Job transitions (names, reasons, status), the module offers no CMEK.
  project = var.project_id
  name    = "${var.topic_name}-dead-letter"
  labels  = local.labels

  depends_on = [google_project_service.this]
}

# Messages published to a topic without subscriptions are lost: this one keeps them.
resource "google_pubsub_subscription" "dead_letter" {
  project                    = var.project_id
  name                       = "${var.topic_name}-dead-letter"
  topic                      = google_pubsub_topic.dead_letter.id
  labels                     = local.labels
  ack_deadline_seconds       = 60
  message_retention_duration = var.message_retention_duration

  expiration_policy {
    ttl = "" # never expire, however long nothing is dead-lettered
  }
}

resource "google_pubsub_subscription" "workflow" {
  for_each = local.workflow_subscriptions

  project = var.project_id
  name    = each.value.name
  topic   = google_pubsub_topic.cluster[each.value.cluster].id
  labels  = merge(local.labels, { "jobwarden-cluster" = each.value.cluster })

  # Only the transitions this workflow handles (local.default_filters), or every message
  # when var.attribute_filters is false (kubernetes-event-exporter messages have no
  # attributes, so a filter would drop them all).
  filter = local.subscription_filter[each.value.target]

  # For push delivery this is the request timeout: at least the function's timeout + 60 s
  # (terraform_data.input_checks refuses less).
  ack_deadline_seconds       = var.ack_deadline_seconds
  message_retention_duration = var.message_retention_duration
  retain_acked_messages      = false

  expiration_policy {
    ttl = "" # a quiet workflow must not lose its subscription
  }

  # A function answering 5xx (a temporary failure: cluster API, storage or webhook down)
  # gets the message again after an exponentially growing delay ...
  retry_policy {
    minimum_backoff = var.retry_minimum_backoff
    maximum_backoff = var.retry_maximum_backoff
  }

  # ... and after max_delivery_attempts it goes to the dead-letter topic. Malformed messages
  # are acknowledged (2xx) by the functions and never come back.
  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  push_config {
    # The topic in the path becomes the CloudEvent's source (functions-framework reads it):
    # this cluster's topic, the only one the functions believe about this cluster.
    push_endpoint = "${google_cloudfunctions2_function.fn[each.value.target].service_config[0].uri}${each.value.push_path}"

    oidc_token {
      service_account_email = google_service_account.push.email
      # Cloud Run accepts the service URL as audience (not the URL with a path).
      audience = google_cloudfunctions2_function.fn[each.value.target].service_config[0].uri
    }

    attributes = {
      x-goog-version = "v1"
    }
  }

  depends_on = [
    google_pubsub_topic_iam_member.dead_letter_publisher,
    google_cloud_run_v2_service_iam_member.push_invoker,
    google_service_account_iam_member.push_token_creator,
    terraform_data.input_checks,
  ]
}
