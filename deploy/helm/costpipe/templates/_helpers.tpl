{{/* Names, labels and the pieces every pod of the chart shares. */}}

{{- define "costpipe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "costpipe.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's object name: <fullname>-<component>, within the 63 characters of a label. */}}
{{- define "costpipe.componentName" -}}
{{- printf "%s-%s" (include "costpipe.fullname" .root | trunc (int (sub 62 (len .component))) | trimSuffix "-") .component -}}
{{- end -}}

{{/* A StatefulSet's name, at most 52 characters: its pods carry the label
     `controller-revision-hash: <name>-<hash>` (up to 11 more characters), which must fit in the
     63 characters of a label value, or the StatefulSet creates no pod. Pass (dict "root" $
     "component" "aggregator"). */}}
{{- define "costpipe.statefulSetName" -}}
{{- printf "%s-%s" (include "costpipe.fullname" .root | trunc (int (sub 51 (len .component))) | trimSuffix "-") .component -}}
{{- end -}}

{{- define "costpipe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "costpipe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "costpipe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of every object; pass (dict "root" $ "component" "api"), component may be "". */}}
{{- define "costpipe.labels" -}}
helm.sh/chart: {{ include "costpipe.chart" .root }}
app.kubernetes.io/name: {{ include "costpipe.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: costpipe
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "costpipe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "costpipe.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "costpipe.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The Secret holding the database URL: the user's, or the one this chart creates. */}}
{{- define "costpipe.databaseSecretName" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecret -}}
{{- else -}}
{{- include "costpipe.componentName" (dict "root" . "component" "database") -}}
{{- end -}}
{{- end -}}

{{- define "costpipe.databaseSecretKey" -}}
{{- if .Values.database.existingSecret -}}
{{- .Values.database.existingSecretKey -}}
{{- else -}}
database-url
{{- end -}}
{{- end -}}

{{/* Fails the render when neither an existing Secret nor a URL names the database. */}}
{{- define "costpipe.checkDatabase" -}}
{{- if not (or .Values.database.existingSecret .Values.database.url) -}}
{{- fail "database: set database.existingSecret (a Secret holding the postgresql:// URL) or database.url" -}}
{{- end -}}
{{- end -}}

{{/* Environment every costpipe process gets; pass (dict "root" $ "secretName" name). */}}
{{- define "costpipe.commonEnv" -}}
- name: COSTPIPE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ include "costpipe.databaseSecretKey" .root }}
- name: COSTPIPE_ROLLUP_MODE
  value: {{ .root.Values.database.rollupMode | quote }}
- name: COSTPIPE_DATABASE_POOL_MIN
  value: {{ .root.Values.database.poolMin | quote }}
- name: COSTPIPE_DATABASE_POOL_MAX
  value: {{ .root.Values.database.poolMax | quote }}
- name: COSTPIPE_LOG_LEVEL
  value: {{ .root.Values.logLevel | quote }}
{{- end -}}

{{- define "costpipe.kafkaEnv" -}}
- name: COSTPIPE_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: COSTPIPE_KAFKA_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: COSTPIPE_KAFKA_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: COSTPIPE_KAFKA_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: COSTPIPE_KAFKA_CONSUMER_GROUP
  value: {{ .Values.kafka.consumerGroup | quote }}
- name: COSTPIPE_METRICS_PORT
  value: {{ .Values.metricsPort | quote }}
- name: COSTPIPE_METRICS_HOST
  value: "0.0.0.0"
{{- end -}}

{{/* Pod-level settings shared by the Deployments, the StatefulSet and the Job; pass (dict "root" $ "spec" .Values.<component>). */}}
{{- define "costpipe.podCommon" -}}
automountServiceAccountToken: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .spec.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .spec.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "costpipe.tmpVolume" -}}
- name: tmp
  emptyDir:
    {{- if .Values.tmpVolume.medium }}
    medium: {{ .Values.tmpVolume.medium }}
    {{- end }}
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{/* Pod annotations: the component's over the chart-wide ones; empty when there are none. */}}
{{- define "costpipe.podAnnotations" -}}
{{- $annotations := merge (dict) (.spec.podAnnotations | default dict) (.root.Values.podAnnotations | default dict) -}}
{{- with $annotations -}}
{{- toYaml . -}}
{{- end -}}
{{- end -}}

{{/* An HTTP probe; pass (dict "probe" .Values.<component>.probes.liveness "path" "/healthz" "port" "http"). */}}
{{- define "costpipe.httpProbe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
initialDelaySeconds: {{ .probe.initialDelaySeconds }}
periodSeconds: {{ .probe.periodSeconds }}
timeoutSeconds: {{ .probe.timeoutSeconds }}
failureThreshold: {{ .probe.failureThreshold }}
{{- end -}}
