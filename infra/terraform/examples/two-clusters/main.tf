# jobwarden for two clusters: a GKE cluster reached with Google credentials and an on-premises
# cluster reached through a kubeconfig kept in Secret Manager, a Slack channel for failures
# and a signed JSON audit feed.
#
#   make bundle                                  # stages build/<function>/ (from the repo root)
#   cd infra/terraform/examples/two-clusters
#   cp terraform.tfvars.example terraform.tfvars # and edit it
#   terraform init                               # or: tofu init
#   terraform apply                              # everything; secrets are created without values
#   # add the values `terraform output secrets` lists, name their versions in secret_versions
#   # (terraform.tfvars), then:
#   terraform apply                              # the functions mount them

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.21.0, < 8.0.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 7.21.0, < 8.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4.0, < 3.0.0"
    }
  }
}

variable "project_id" {
  type        = string
  description = "Project that hosts jobwarden."
}

variable "region" {
  type        = string
  description = "Region of the functions and buckets."
}

variable "gke_cluster" {
  type = object({
    project  = string
    location = string
    cluster  = string
    # "dns": GKE's DNS-based control-plane endpoint (private clusters, no VPC needed).
    endpoint = optional(string, "ip")
  })
  description = "The GKE cluster reported as prod-eu."
}

variable "onprem_exporter_principal" {
  type        = string
  default     = null
  description = "Workload Identity Federation principal of the onprem exporter (principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/subject/SUBJECT); null: nobody may publish for onprem yet."
}

variable "iap_audience" {
  type        = string
  default     = null
  description = "Set to put restart, delete and the on-demand reports behind your load balancer with IAP: /projects/<project number>/global/backendServices/<backend service id> (module README: IAP). null: callers send a Kubernetes token."
}

variable "oncall_members" {
  type        = list(string)
  description = "Who may call restart and delete, and the on-demand reports (IAM members)."
}

variable "secret_versions" {
  type        = map(string)
  default     = {}
  description = "Version of each secret the functions mount, by key (`terraform output secrets`); a secret not listed is not mounted yet."
}

provider "google" {
  project = var.project_id
  region  = var.region
}

provider "google-beta" {
  project = var.project_id
  region  = var.region
}

module "jobwarden" {
  source = "../.."

  project_id      = var.project_id
  region          = var.region
  secret_versions = var.secret_versions

  clusters = {
    # Each cluster gets its own topic (job-events-<cluster>) and exporter account
    # (jobwarden-exporter-<cluster>), which alone may publish to it: the functions believe
    # a message about prod-eu only from job-events-prod-eu (`terraform output exporters`).
    prod-eu = {
      gke = var.gke_cluster
      # The exporter chart's ServiceAccount, bound through Workload Identity to
      # jobwarden-exporter-prod-eu. Another GKE cluster of the same project would need another
      # name here (one identity pool per project).
      exporter = { namespace = "jobwarden", service_account = "jobwarden-exporter" }
    }
    onprem = {
      # kubeconfig in the secret jobwarden-cluster-onprem-kubeconfig (value added out of band).
      # Its exporter acts as jobwarden-exporter-onprem through Workload Identity Federation.
      kubeconfig_secret = true
      exporter          = { workload_identity_member = var.onprem_exporter_principal }
    }
  }

  webhooks = {
    oncall = { type = "slack", workflows = ["jobFailureReporter"] }
    audit  = { type = "json" }
  }

  # IAP (when iap_audience is set) also moves the HTTP functions' ingress to
  # ALLOW_INTERNAL_AND_GCLB: reachable through the load balancer only.
  authentication = {
    mode         = var.iap_audience == null ? "kubernetes-token" : "iap"
    iap_audience = var.iap_audience
  }

  action_invokers     = var.oncall_members
  report_invokers     = var.oncall_members
  dead_letter_readers = var.oncall_members
  retention_days      = 30

  functions = {
    job_pod_enricher = { memory = "1Gi" }
  }

  # The one values file: the exporter chart takes the same file in each cluster (helm -f).
  values_file = "${path.module}/jobwarden-values.yaml"
}

output "exporters" {
  description = "Per cluster: the topic and Google service account its exporter's Helm install takes (topic, serviceAccount.gcpServiceAccount)."
  value       = module.jobwarden.exporters
}

output "secrets" {
  description = "Secrets to fill, with their keys in secret_versions and the version mounted now."
  value       = module.jobwarden.secrets
}

output "http_function_uris" {
  description = "Restart, delete and on-demand report URLs."
  value       = module.jobwarden.http_function_uris
}
