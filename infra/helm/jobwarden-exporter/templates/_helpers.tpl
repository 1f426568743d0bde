{{/* The chart's name, or nameOverride. */}}
{{- define "jobwarden-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* <release>-<chart> (or fullnameOverride), a DNS label: names the namespaced objects. */}}
{{- define "jobwarden-exporter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects carry the namespace too: two releases may share a name. */}}
{{- define "jobwarden-exporter.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "jobwarden-exporter.fullname" .) }}
{{- end }}

{{- define "jobwarden-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jobwarden-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jobwarden-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jobwarden-exporter.labels" -}}
helm.sh/chart: {{ include "jobwarden-exporter.chart" . }}
{{ include "jobwarden-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: exporter
app.kubernetes.io/part-of: jobwarden
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Fixed by default (jobwarden-exporter): the name Terraform binds through Workload Identity. */}}
{{- define "jobwarden-exporter.serviceAccountName" -}}
{{- required "serviceAccount.name is required: the ServiceAccount the exporter runs as (infra/terraform binds jobwarden-exporter by default)" .Values.serviceAccount.name }}
{{- end }}

{{- define "jobwarden-exporter.subjects" -}}
- kind: ServiceAccount
  name: {{ include "jobwarden-exporter.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end }}

{{- define "jobwarden-exporter.leaseName" -}}
{{- default (include "jobwarden-exporter.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "jobwarden-exporter.image" -}}
{{- $repository := required "image.repository is required: the exporter image you built and pushed (README: Containers), e.g. --set image.repository=europe-docker.pkg.dev/PROJECT/jobwarden/exporter" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The exporter's rules: exactly the requests it makes (see jobwarden_exporter.service). */}}
{{- define "jobwarden-exporter.rules" -}}
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch"]
- apiGroups: ["batch"]
  resources: ["cronjobs"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
{{- if .Values.relayEvents }}
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list", "watch"]
{{- end }}
{{- if .Values.rbac.podLogs }}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
{{- end }}
{{- end }}
