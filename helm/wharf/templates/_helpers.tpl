{{/*
Names, labels and the few values every template shares.
Ports inside the pods are fixed: the chart sets the bind addresses (0.0.0.0:PORT) itself.
*/}}

{{- define "wharf.port.http" -}}8080{{- end -}}
{{- define "wharf.port.upload" -}}8081{{- end -}}
{{- define "wharf.port.ftp" -}}2121{{- end -}}
{{- define "wharf.port.grpc" -}}50051{{- end -}}
{{- define "wharf.port.admin" -}}9090{{- end -}}

{{- define "wharf.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* RELEASE-wharf, or the release name alone when it already contains the chart name. */}}
{{- define "wharf.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* One component's resource name; call with (dict "root" $ "component" "core"). */}}
{{- define "wharf.componentName" -}}
{{- printf "%s-%s" (include "wharf.fullname" .root) .component -}}
{{- end -}}

{{- define "wharf.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels; call with (dict "root" $ "component" "core"), component may be "". */}}
{{- define "wharf.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wharf.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* All labels; call with (dict "root" $ "component" "core"). */}}
{{- define "wharf.labels" -}}
helm.sh/chart: {{ include "wharf.chart" .root }}
{{ include "wharf.selectorLabels" . }}
app.kubernetes.io/version: {{ include "wharf.imageTag" .root | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: wharf
{{- end -}}

{{- define "wharf.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end -}}

{{- define "wharf.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "wharf.imageTag" .) -}}
{{- end -}}

{{- define "wharf.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wharf.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding database-url, internal-token and secret-key. */}}
{{- define "wharf.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "wharf.fullname" .) -}}
{{- end -}}

{{/* "true" when core has no PostgreSQL (SQLite on a scratch volume: trying the chart only). */}}
{{- define "wharf.sqlite" -}}
{{- if and (not .Values.secrets.existingSecret) (not .Values.secrets.databaseUrl) -}}true{{- end -}}
{{- end -}}

{{/* Where the front-ends find core. */}}
{{- define "wharf.coreUrl" -}}
{{- printf "http://%s:%s" (include "wharf.componentName" (dict "root" . "component" "core")) (include "wharf.port.grpc" .) -}}
{{- end -}}

{{/* The passive port range as WHARF_FTP_PASSIVE_PORTS wants it: FIRST-LAST. The only place
     the range is read, for the ftp pods' env, their container ports and the Service. */}}
{{- define "wharf.ftpPassiveRange" -}}
{{- $first := int .Values.ftp.passivePorts.first -}}
{{- $last := int .Values.ftp.passivePorts.last -}}
{{- if lt $last $first -}}
{{- fail (printf "ftp.passivePorts: last (%d) is below first (%d)" $last $first) -}}
{{- end -}}
{{- if gt (add1 (sub $last $first)) 1000 -}}
{{- fail (printf "ftp.passivePorts: %d-%d is %d ports; at most 1000" $first $last (add1 (sub $last $first))) -}}
{{- end -}}
{{- if and (le $first (int (include "wharf.port.ftp" .))) (ge $last (int (include "wharf.port.ftp" .))) -}}
{{- fail "ftp.passivePorts must not contain the control port 2121" -}}
{{- end -}}
{{- if and (le $first (int (include "wharf.port.admin" .))) (ge $last (int (include "wharf.port.admin" .))) -}}
{{- fail "ftp.passivePorts must not contain the admin port 9090" -}}
{{- end -}}
{{- printf "%d-%d" $first $last -}}
{{- end -}}

{{/* Checks across values that values.schema.json cannot express. */}}
{{- define "wharf.validate" -}}
{{- $s := .Values.secrets -}}
{{- if and $s.existingSecret (or $s.databaseUrl $s.internalToken $s.secretKey) -}}
{{- fail "secrets: set either existingSecret or databaseUrl/internalToken/secretKey, not both" -}}
{{- end -}}
{{- if and (include "wharf.sqlite" .) (gt (int .Values.core.replicas) 1) -}}
{{- fail "core.replicas > 1 needs PostgreSQL: set secrets.databaseUrl or secrets.existingSecret" -}}
{{- end -}}
{{- $dbTls := .Values.core.databaseTls -}}
{{- if and $dbTls.rootCert.secretName $dbTls.rootCert.configMapName -}}
{{- fail "core.databaseTls.rootCert: set either secretName or configMapName, not both" -}}
{{- end -}}
{{- if and (include "wharf.sqlite" .) (or $dbTls.sslMode $dbTls.rootCert.secretName $dbTls.rootCert.configMapName $dbTls.clientCert.secretName) -}}
{{- fail "core.databaseTls needs PostgreSQL: set secrets.databaseUrl or secrets.existingSecret" -}}
{{- end -}}
{{- if and .Values.ftp.requireTls (not .Values.ftp.tlsSecretName) -}}
{{- fail "ftp.requireTls needs ftp.tlsSecretName (the FTPS certificate)" -}}
{{- end -}}
{{- $_ := include "wharf.ftpPassiveRange" . -}}
{{- end -}}

{{/* Environment every component gets: the internal token, logging, OpenTelemetry, extraEnv.
     Call with (dict "root" $ "component" "core"). */}}
{{- define "wharf.commonEnv" -}}
{{- $root := .root -}}
- name: WHARF_INTERNAL_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "wharf.secretName" $root }}
      key: internal-token
- name: RUST_LOG
  value: {{ $root.Values.logLevel | quote }}
- name: K8S_POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: OTEL_SERVICE_NAME
  value: {{ printf "%s-%s" $root.Values.otel.serviceNamePrefix .component | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=%s,k8s.namespace.name=%s,k8s.pod.name=$(K8S_POD_NAME)%s" $root.Release.Namespace $root.Release.Namespace (ternary (printf ",%s" $root.Values.otel.resourceAttributes) "" (ne $root.Values.otel.resourceAttributes "")) | quote }}
{{- with $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with $root.Values.otel.protocol }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ . | quote }}
{{- end }}
{{- with $root.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* TLS files for a front-end: env, volume and mount; call with (dict "secret" NAME). */}}
{{- define "wharf.tlsEnv" -}}
{{- if .secret }}
- name: WHARF_TLS_CERT
  value: /etc/wharf/tls/tls.crt
- name: WHARF_TLS_KEY
  value: /etc/wharf/tls/tls.key
{{- end }}
{{- end -}}

{{/* An HTTP probe; call with (dict "path" "/healthz" "port" "http" "scheme" "HTTP" "timing" MAP). */}}
{{- define "wharf.probe" -}}
httpGet:
  path: {{ .path }}
  port: {{ .port }}
  scheme: {{ .scheme }}
{{ toYaml .timing }}
{{- end -}}

{{- define "wharf.tlsVolume" -}}
{{- if .secret }}
- name: tls
  secret:
    secretName: {{ .secret }}
    defaultMode: 288 # 0440: the key is readable by the pod's group (fsGroup) only
{{- end }}
{{- end -}}

{{- define "wharf.tlsMount" -}}
{{- if .secret }}
- name: tls
  mountPath: /etc/wharf/tls
  readOnly: true
{{- end }}
{{- end -}}
