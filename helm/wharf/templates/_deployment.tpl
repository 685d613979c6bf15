{{/*
One component's Deployment; the five component templates call it so they cannot drift apart
in security context, probes, volumes or labels. Call with a dict:
  root       the top context ($)
  component  core | gateway | ftp | upload | sftp
  values     the component's values (.Values.core, …)
  ports      list of container ports (maps: name, containerPort, protocol); the admin port
             (WHARF_ADMIN_ADDR: /healthz, /readyz, /metrics) is added here for every component
  probePort  the named port /healthz and /readyz are served on
  probeScheme HTTP or HTTPS
  env        the component's own env entries (YAML text)
  volumes, mounts  extra volumes and mounts (YAML text, may be empty)
  annotations extra pod annotations (map, may be empty)
  affinity   the affinity to use when values.affinity is empty (map, may be empty)
  (values.topologySpreadConstraints is rendered as given, each entry without a labelSelector
  getting the component's selector labels; an empty list renders none)
  onePerNode true when that affinity allows one pod per node (rolling updates surge no pod)
*/}}
{{- define "wharf.deployment" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $ctx := dict "root" $root "component" .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "wharf.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "wharf.labels" $ctx | nindent 4 }}
spec:
  {{- if not (dig "autoscaling" "enabled" false $v) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "wharf.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      {{- if .onePerNode }}
      # At most one pod per node: a new pod may need the node an old one leaves.
      maxUnavailable: 1
      maxSurge: 0
      {{- else }}
      maxUnavailable: 0
      maxSurge: 1
      {{- end }}
  template:
    metadata:
      labels:
        {{- include "wharf.selectorLabels" $ctx | nindent 8 }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # Roll the pods when the chart's secret values change (env is read at start-up only).
        checksum/secrets: {{ toJson $root.Values.secrets | sha256sum }}
        {{- /* One map, so a key set twice is rendered once: the component's podAnnotations win
               over the global ones, which win over the chart's (e.g. the scrape annotations). */}}
        {{- $annotations := dict }}
        {{- if include "wharf.podScrape" $ctx }}
        {{- $annotations = dict "prometheus.io/scrape" "true" "prometheus.io/port" (include "wharf.port.admin" $root) "prometheus.io/path" "/metrics" }}
        {{- end }}
        {{- $annotations = merge (deepCopy ($v.podAnnotations | default dict)) (deepCopy ($root.Values.podAnnotations | default dict)) (deepCopy (.annotations | default dict)) $annotations }}
        {{- with $annotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "wharf.serviceAccountName" $root }}
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- range . }}
        - name: {{ . }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .component }}
          image: {{ include "wharf.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args: [{{ .component | quote }}]
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          ports:
            {{- toYaml .ports | nindent 12 }}
            - name: admin
              containerPort: {{ include "wharf.port.admin" $root }}
              protocol: TCP
          env:
            {{- .env | nindent 12 }}
            - name: WHARF_ADMIN_ADDR
              value: {{ printf "0.0.0.0:%s" (include "wharf.port.admin" $root) | quote }}
            {{- include "wharf.commonEnv" $ctx | nindent 12 }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          livenessProbe:
            {{- include "wharf.probe" (dict "path" "/healthz" "port" .probePort "scheme" .probeScheme "timing" $root.Values.probes.liveness) | nindent 12 }}
          readinessProbe:
            {{- include "wharf.probe" (dict "path" "/readyz" "port" .probePort "scheme" .probeScheme "timing" $root.Values.probes.readiness) | nindent 12 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- with .mounts | trim }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $root.Values.tmpSizeLimit }}
        {{- with .volumes | trim }}
        {{- . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with ($v.affinity | default .affinity) }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      {{- $constraints := list }}
      {{- range . }}
      {{- $constraint := deepCopy . }}
      {{- if not (hasKey $constraint "labelSelector") }}
      {{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "wharf.selectorLabels" $ctx | fromYaml)) }}
      {{- end }}
      {{- $constraints = append $constraints $constraint }}
      {{- end }}
      topologySpreadConstraints:
        {{- toYaml $constraints | nindent 8 }}
      {{- end }}
{{- end -}}
