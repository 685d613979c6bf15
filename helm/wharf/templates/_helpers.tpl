{{/*
Names, labels and the few values every template shares.
Ports inside the pods are fixed: the chart sets the bind addresses (0.0.0.0:PORT) itself.
*/}}

{{- define "wharf.port.http" -}}8080{{- end -}}
{{- define "wharf.port.upload" -}}8081{{- end -}}
{{- define "wharf.port.ftp" -}}2121{{- end -}}
{{- define "wharf.port.sftp" -}}2222{{- end -}}
{{- define "wharf.port.grpc" -}}50051{{- end -}}
{{- /* Every component's admin listener (WHARF_ADMIN_ADDR): /healthz, /readyz and /metrics.
     wharf's own default; not 9090, which is Prometheus's. */ -}}
{{- define "wharf.port.admin" -}}7321{{- end -}}
{{/* The admin HTTP API's container port (core only; core.adminApi). */}}
{{- define "wharf.port.adminApi" -}}7322{{- end -}}

{{/* The front-ends this release runs, space-separated: gateway, ftp and upload always, sftp
     when sftp.enabled. Every template that loops over front-ends (NetworkPolicies, HPAs,
     PDBs, ServiceMonitors, checks) reads this list. Use: splitList " " (include …). */}}
{{- define "wharf.frontEnds" -}}
gateway ftp upload{{ if .Values.sftp.enabled }} sftp{{ end }}
{{- end -}}

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

{{/* Where the front-ends find core: https:// when core's gRPC serves TLS (grpcTls). The host
     is the core Service's name, which core's certificate must carry. */}}
{{- define "wharf.coreUrl" -}}
{{- printf "%s://%s:%s" (ternary "https" "http" .Values.grpcTls.enabled) (include "wharf.componentName" (dict "root" . "component" "core")) (include "wharf.port.grpc" .) -}}
{{- end -}}

{{/* Core's side of grpcTls: env, volumes and mounts (YAML lists, may be empty). */}}
{{- define "wharf.grpcTlsEnv" -}}
{{- $t := .Values.grpcTls -}}
{{- if $t.enabled }}
- name: WHARF_GRPC_TLS_CERT
  value: /etc/wharf/grpc-tls/tls.crt
- name: WHARF_GRPC_TLS_KEY
  value: /etc/wharf/grpc-tls/tls.key
{{- if $t.mutual }}
- name: WHARF_GRPC_CLIENT_CA
  value: {{ ternary "/etc/wharf/grpc-client-ca/ca.crt" "/etc/wharf/grpc-tls/ca.crt" (ne $t.clientCaSecretName "") }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "wharf.grpcTlsVolume" -}}
{{- $t := .Values.grpcTls -}}
{{- if $t.enabled }}
- name: grpc-tls
  secret:
    secretName: {{ $t.serverSecretName }}
    defaultMode: 288 # 0440: the key is readable by the pod's group (fsGroup) only
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- if and $t.mutual (not $t.clientCaSecretName) }}
      - key: ca.crt
        path: ca.crt
      {{- end }}
{{- if and $t.mutual $t.clientCaSecretName }}
- name: grpc-client-ca
  secret:
    secretName: {{ $t.clientCaSecretName }}
    defaultMode: 288
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}
{{- end -}}

{{- define "wharf.grpcTlsMount" -}}
{{- $t := .Values.grpcTls -}}
{{- if $t.enabled }}
- name: grpc-tls
  mountPath: /etc/wharf/grpc-tls
  readOnly: true
{{- if and $t.mutual $t.clientCaSecretName }}
- name: grpc-client-ca
  mountPath: /etc/wharf/grpc-client-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}

{{/* A front-end's side of grpcTls: env, volume and mount. Only the keys it uses are mounted:
     ca.crt, and with mutual TLS its client certificate and key. */}}
{{- define "wharf.coreTlsEnv" -}}
{{- $t := .Values.grpcTls -}}
{{- if $t.enabled }}
- name: WHARF_CORE_CA_FILE
  value: /etc/wharf/core-tls/ca.crt
{{- if $t.mutual }}
- name: WHARF_CORE_CLIENT_CERT
  value: /etc/wharf/core-tls/tls.crt
- name: WHARF_CORE_CLIENT_KEY
  value: /etc/wharf/core-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}

{{- define "wharf.coreTlsVolume" -}}
{{- $t := .Values.grpcTls -}}
{{- if $t.enabled }}
- name: core-tls
  secret:
    secretName: {{ $t.clientSecretName }}
    defaultMode: 288 # 0440: the key is readable by the pod's group (fsGroup) only
    items:
      - key: ca.crt
        path: ca.crt
      {{- if $t.mutual }}
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
      {{- end }}
{{- end }}
{{- end -}}

{{- define "wharf.coreTlsMount" -}}
{{- if .Values.grpcTls.enabled }}
- name: core-tls
  mountPath: /etc/wharf/core-tls
  readOnly: true
{{- end }}
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
{{- fail (printf "ftp.passivePorts must not contain the admin port %s" (include "wharf.port.admin" .)) -}}
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
{{- $g := .Values.grpcTls -}}
{{- if and $g.enabled (not $g.serverSecretName) -}}
{{- fail "grpcTls.enabled needs grpcTls.serverSecretName (core's tls.crt and tls.key)" -}}
{{- end -}}
{{- if and $g.enabled (not $g.clientSecretName) -}}
{{- fail "grpcTls.enabled needs grpcTls.clientSecretName (the front-ends' ca.crt, and their tls.crt/tls.key with mutual)" -}}
{{- end -}}
{{- if and $g.mutual (not $g.enabled) -}}
{{- fail "grpcTls.mutual needs grpcTls.enabled" -}}
{{- end -}}
{{- if and $g.clientCaSecretName (not $g.mutual) -}}
{{- fail "grpcTls.clientCaSecretName is used only with grpcTls.mutual" -}}
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
{{- $sftp := .Values.sftp -}}
{{- if and $sftp.enabled (eq $sftp.service.type "ClusterIP") (eq (int $sftp.service.port) (int (include "wharf.port.admin" .))) -}}
{{- fail (printf "sftp.service.port must not be the admin port %s on a ClusterIP Service (it carries both)" (include "wharf.port.admin" .)) -}}
{{- end -}}
{{- range $component := splitList " " (include "wharf.frontEnds" .) }}
{{- $v := get $.Values $component }}
{{- $a := $v.autoscaling }}
{{- if $a.enabled }}
{{- if gt (int $a.minReplicas) (int $a.maxReplicas) }}
{{- fail (printf "%s.autoscaling: minReplicas (%d) is above maxReplicas (%d)" $component (int $a.minReplicas) (int $a.maxReplicas)) }}
{{- end }}
{{- if not (dig "requests" "cpu" "" $v.resources) }}
{{- fail (printf "%s.autoscaling needs %s.resources.requests.cpu (CPU utilization is measured against it)" $component $component) }}
{{- end }}
{{- if and $a.targetMemoryUtilizationPercentage (not (dig "requests" "memory" "" $v.resources)) }}
{{- fail (printf "%s.autoscaling.targetMemoryUtilizationPercentage needs %s.resources.requests.memory" $component $component) }}
{{- end }}
{{- end }}
{{- end }}
{{- $sm := .Values.metrics.serviceMonitor -}}
{{- if and $sm.enabled (gt (int64 (include "wharf.durationMs" $sm.scrapeTimeout)) (int64 (include "wharf.durationMs" $sm.interval))) -}}
{{- fail (printf "metrics.serviceMonitor: scrapeTimeout (%s) is longer than interval (%s)" $sm.scrapeTimeout $sm.interval) -}}
{{- end -}}
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

{{/* The admin port (/healthz, /readyz, /metrics) of a component's ClusterIP Service; a
     ServiceMonitor finds it by its name. */}}
{{- define "wharf.adminServicePort" -}}
- name: admin
  port: {{ include "wharf.port.admin" . }}
  targetPort: admin
  protocol: TCP
{{- end -}}

{{/* Where a front-end's admin port is served in the cluster: on its own Service when that is a
     ClusterIP, else on an extra ClusterIP Service NAME-admin, so /metrics is never put on a
     load balancer or a node port. Call with (dict "root" $ "component" "ftp" "type" SERVICE_TYPE);
     renders the extra Service (after a "---") or nothing. */}}
{{- define "wharf.adminService" -}}
{{- if ne .type "ClusterIP" }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ printf "%s-admin" (include "wharf.componentName" .) | trunc 63 | trimSuffix "-" }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "wharf.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "wharf.selectorLabels" . | nindent 4 }}
  ports:
    {{- include "wharf.adminServicePort" .root | nindent 4 }}
{{- end }}
{{- end -}}

{{/* The NetworkPolicy rule for a component's admin port: any pod of the namespace, and the
     peers in networkPolicy.metricsFrom (e.g. Prometheus in another namespace). */}}
{{- define "wharf.adminIngressRule" -}}
- from:
    - podSelector: {}
    {{- with .Values.networkPolicy.metricsFrom }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - port: admin
      protocol: TCP
{{- end -}}

{{/* "true" when a component's pods get the prometheus.io scrape annotations: metrics.podAnnotations,
     except that core.prometheusScrape (the older, core-only setting) decides for core when it
     is set. Call with (dict "root" $ "component" "core"). */}}
{{- define "wharf.podScrape" -}}
{{- $scrape := .root.Values.metrics.podAnnotations -}}
{{- $v := get .root.Values .component -}}
{{- if and (eq .component "core") (hasKey $v "prometheusScrape") (not (kindIs "invalid" $v.prometheusScrape)) -}}
{{- $scrape = $v.prometheusScrape -}}
{{- end -}}
{{- if $scrape -}}true{{- end -}}
{{- end -}}

{{/* A Prometheus duration (30s, 1m30s, 500ms) in milliseconds. */}}
{{- define "wharf.durationMs" -}}
{{- $units := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000 "w" 604800000 "y" 31536000000 -}}
{{- $total := 0 -}}
{{- range regexFindAll "[0-9]+(ms|[smhdwy])" . -1 -}}
{{- $total = add $total (mul (regexFind "^[0-9]+" .) (get $units (regexReplaceAll "^[0-9]+" . ""))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* "N replica(s)", or "autoscaled MIN-MAX" with a HorizontalPodAutoscaler; call with the
     component's values. */}}
{{- define "wharf.replicasNote" -}}
{{- if dig "autoscaling" "enabled" false . -}}
{{- printf "autoscaled %d-%d" (int .autoscaling.minReplicas) (int .autoscaling.maxReplicas) -}}
{{- else -}}
{{- printf "%d replica(s)" (int .replicas) -}}
{{- end -}}
{{- end -}}
