{{/*
Named templates shared by the pjob chart: names, labels, images, the
operator's RBAC rules (one list used by both the ClusterRole and the
namespaced Roles) and the operator config (config.json) that carries the
datastore and worker-pod defaults to the operator's builders.
*/}}

{{- define "pjob.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pjob.fullname" -}}
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

{{- define "pjob.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pjob.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pjob.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pjob.labels" -}}
helm.sh/chart: {{ include "pjob.chart" . }}
{{ include "pjob.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pjob
{{- end }}

{{- define "pjob.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pjob.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "pjob.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "pjob.workerImage" -}}
{{- $repo := default .Values.image.repository .Values.worker.image.repository }}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.worker.image.tag }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/* "true" when the operator serves every namespace, "" in namespaced-only mode. */}}
{{- define "pjob.clusterWide" -}}
{{- if not .Values.operator.watchNamespaces }}true{{ end }}
{{- end }}

{{- define "pjob.datastoreClaim" -}}
{{- default (printf "%s-datastore" (include "pjob.fullname" .)) .Values.datastore.pvc.existingClaim }}
{{- end }}

{{- define "pjob.objectStoreSecret" -}}
{{- default (printf "%s-objectstore" (include "pjob.fullname" .)) .Values.datastore.objectStore.existingSecret }}
{{- end }}

{{/* Fail early on values that cannot work. Included by the Deployment. */}}
{{- define "pjob.validateValues" -}}
{{- if not (has .Values.datastore.type (list "pvc" "objectStore")) }}
{{- fail (printf "datastore.type must be \"pvc\" or \"objectStore\", got %q" .Values.datastore.type) }}
{{- end }}
{{- if and (eq .Values.datastore.type "objectStore") (not .Values.datastore.objectStore.url) }}
{{- fail "datastore.objectStore.url is required when datastore.type is objectStore (e.g. s3://my-bucket/pjob)" }}
{{- end }}
{{- if and (eq .Values.datastore.type "objectStore") (not .Values.datastore.objectStore.existingSecret) (not .Values.datastore.objectStore.credentials) }}
{{- fail "datastore.objectStore needs existingSecret (preferred) or credentials" }}
{{- end }}
{{- if and (not .Values.datastore.pvc.create) (not .Values.datastore.pvc.existingClaim) }}
{{- fail "datastore.pvc.existingClaim is required when datastore.pvc.create is false" }}
{{- end }}
{{- range .Values.operator.watchNamespaces }}
{{- if regexMatch "[*?!,]" . }}
{{- fail (printf "operator.watchNamespaces takes exact namespace names, got %q: globs need cluster-wide namespace listing; leave the list empty for cluster-wide mode" .) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Namespaced permissions of the operator: what the kopf handlers, the
builders and finalisation call in a namespace that holds jobs. Used as the
rules of the ClusterRole (cluster-wide mode) and of each Role
(namespaced-only mode). Mirrored as data in tests/unit/deploy/rbac_needs.py.
*/}}
{{- define "pjob.operatorNamespacedRules" -}}
# ParallelJob/PipelineJob: watch, patch status/annotations/finalizers; PipelineJobs create child ParallelJobs.
- apiGroups: ["pjob.dev"]
  resources: ["paralleljobs", "pipelinejobs"]
  verbs: ["get", "list", "watch", "patch", "update", "create"]
- apiGroups: ["pjob.dev"]
  resources: ["paralleljobs/status", "pipelinejobs/status"]
  verbs: ["get", "patch", "update"]
# ownerReferences with blockOwnerDeletion need update on the owner's finalizers.
- apiGroups: ["pjob.dev"]
  resources: ["paralleljobs/finalizers", "pipelinejobs/finalizers"]
  verbs: ["update"]
# One Indexed Job per ParallelJob, one Job per command step; stopped on a verdict.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "delete", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Cluster-wide mode: the datastore claim the workers mount must exist in the job's namespace.
- apiGroups: [""]
  resources: ["persistentvolumeclaims"]
  verbs: ["get"]
# Queue ConfigMaps, shipped code; worker heartbeats (Leases).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get", "list", "watch", "update", "patch", "delete"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create", "get", "list", "watch", "update", "patch", "delete"]
# Each job's workers get their own ServiceAccount, Role and RoleBinding.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["create", "get", "list", "patch"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "get", "list", "patch"]
# Events for condition transitions (kopf and pjob).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Cluster-scoped reads kopf needs: CRDs (resource scanning). */}}
{{- define "pjob.crdReadRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* Pod-spec fragments the operator's builders add to every worker pod, as YAML. */}}
{{- define "pjob.workerVolumes" -}}
- name: tmp
  emptyDir: {sizeLimit: {{ .Values.worker.tmpSizeLimit | quote }}}
- name: work
  emptyDir: {sizeLimit: {{ .Values.worker.tmpSizeLimit | quote }}}
- name: datastore
  persistentVolumeClaim: {claimName: {{ include "pjob.datastoreClaim" . | quote }}}
{{- if .Values.worker.pipFromCondaFile.enabled }}
{{- if .Values.worker.pipFromCondaFile.cacheClaim }}
- name: pip-cache
  persistentVolumeClaim: {claimName: {{ .Values.worker.pipFromCondaFile.cacheClaim | quote }}}
{{- else }}
- name: pip-cache
  emptyDir: {}
{{- end }}
{{- end }}
{{- end }}

{{- define "pjob.workerVolumeMounts" -}}
- {name: tmp, mountPath: /tmp}
- {name: work, mountPath: {{ .Values.worker.workDir | quote }}}
- {name: datastore, mountPath: {{ .Values.datastore.pvc.mountPath | quote }}}
{{- if .Values.worker.pipFromCondaFile.enabled }}
- {name: pip-cache, mountPath: {{ .Values.worker.pipFromCondaFile.cachePath | quote }}}
{{- end }}
{{- end }}

{{- define "pjob.workerEnv" -}}
- {name: HOME, value: {{ .Values.worker.workDir | quote }}}
- {name: TMPDIR, value: /tmp}
- {name: PYTHONUNBUFFERED, value: "1"}
{{- if and (eq .Values.datastore.type "objectStore") .Values.datastore.objectStore.endpointUrl }}
- {name: AWS_ENDPOINT_URL, value: {{ .Values.datastore.objectStore.endpointUrl | quote }}}
{{- end }}
{{- if .Values.worker.pipFromCondaFile.enabled }}
- {name: PJOB_PIP_CACHE, value: {{ .Values.worker.pipFromCondaFile.cachePath | quote }}}
- {name: PJOB_PIP_EXTRA_ARGS, value: {{ join " " .Values.worker.pipFromCondaFile.extraArgs | quote }}}
{{- end }}
{{- with .Values.worker.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The operator's config file (ConfigMap key config.json, mounted at
/etc/pjob/config.json, path in $PJOB_CONFIG_FILE). Its shape is documented
in docs/deploy.md ("Operator configuration").
*/}}
{{- define "pjob.config" -}}
version: 1
operator:
  namespace: {{ .Release.Namespace | quote }}
  clusterWide: {{ include "pjob.clusterWide" . | eq "true" }}
  watchNamespaces: {{ toJson .Values.operator.watchNamespaces }}
  serviceAccountName: {{ include "pjob.serviceAccountName" . | quote }}
datastores:
  default: {{ .Values.datastore.name | quote }}
  items:
    {{ .Values.datastore.name | quote }}:
{{- if eq .Values.datastore.type "pvc" }}
      type: pvc
      claimName: {{ include "pjob.datastoreClaim" . | quote }}
      mountPath: {{ .Values.datastore.pvc.mountPath | quote }}
{{- else }}
      type: objectStore
      claimName: {{ include "pjob.datastoreClaim" . | quote }}
      mountPath: {{ .Values.datastore.pvc.mountPath | quote }}
      url: {{ .Values.datastore.objectStore.url | quote }}
      secretName: {{ include "pjob.objectStoreSecret" . | quote }}
      endpointUrl: {{ .Values.datastore.objectStore.endpointUrl | quote }}
{{- end }}
worker:
  image: {{ include "pjob.workerImage" . | quote }}
  imagePullPolicy: {{ default .Values.image.pullPolicy .Values.worker.image.pullPolicy | quote }}
  imagePullSecrets: {{ toJson .Values.imagePullSecrets }}
  resources: {{ toJson .Values.worker.resources }}
  nodeSelector: {{ toJson .Values.worker.nodeSelector }}
  tolerations: {{ toJson .Values.worker.tolerations }}
  affinity: {{ toJson .Values.worker.affinity }}
  gpu: {{ toJson .Values.worker.gpu }}
  podSecurityContext: {{ toJson .Values.worker.podSecurityContext }}
  securityContext: {{ toJson .Values.worker.securityContext }}
  terminationGracePeriodSeconds: {{ .Values.worker.terminationGracePeriodSeconds }}
  podLabels: {{ toJson .Values.worker.podLabels }}
  podAnnotations: {{ toJson .Values.worker.podAnnotations }}
  priorityClassName: {{ .Values.worker.priorityClassName | quote }}
  workDir: {{ .Values.worker.workDir | quote }}
  env:
{{ include "pjob.workerEnv" . | indent 4 }}
{{- if eq .Values.datastore.type "objectStore" }}
  envFrom:
    - secretRef: {name: {{ include "pjob.objectStoreSecret" . | quote }}}
{{- else }}
  envFrom: []
{{- end }}
  volumes:
{{ include "pjob.workerVolumes" . | indent 4 }}
  volumeMounts:
{{ include "pjob.workerVolumeMounts" . | indent 4 }}
  pipFromCondaFile:
    enabled: {{ .Values.worker.pipFromCondaFile.enabled }}
    command: pjob-pip-env
    cachePath: {{ .Values.worker.pipFromCondaFile.cachePath | quote }}
{{- end }}
