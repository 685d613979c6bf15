#!/usr/bin/env python3
"""Semantic checks on the manifests `helm template` rendered from the wharf chart.

Reads the rendered YAML (parsed with PyYAML, never grepped) and checks what the chart promises
(SPEC §7.3 and helm/wharf/README.md):
  - the five Deployments exist (four with --no-sftp), run `wharf COMPONENT`, bind 0.0.0.0 on
    their ports (every one its admin listener on 7321, WHARF_ADMIN_ADDR, container port
    "admin"), and probe /healthz (liveness) and /readyz (readiness) on the right port: core, ftp
    and sftp on the admin port 7321, gateway on 8080, upload on 8081;
  - every component's admin port is on exactly one Service selecting its pods, a ClusterIP one
    with a port named "admin" (what a ServiceMonitor selects); no load balancer or node port
    Service carries it;
  - the ftp pods advertise the passive host asked for (WHARF_FTP_PASSIVE_HOST);
  - the ftp Service exposes exactly the passive range the ftp pods get in
    WHARF_FTP_PASSIVE_PORTS (same numbers, targetPort = port), plus the control port;
  - sftp (unless --no-sftp): its pods get WHARF_SFTP_ENV (prod or uat) and the session and
    file limits as whole numbers, the values asked for (--sftp VAR=VALUE, else the chart's
    defaults), declare one port besides admin (sftp, 2222) and no FTP setting, and one Service
    carries that port as `sftp` (the port asked for, --sftp-port); with --no-sftp nothing of
    the chart is labelled component=sftp and no pod gets a WHARF_SFTP_* setting other than
    core's host key;
  - the SSH host key: with --sftp-host-key SECRET/KEY core's WHARF_SFTP_HOST_KEY_FILE is that
    key of that Secret, mounted read-only and not world-readable; without it, no host key file;
    either way no other pod gets WHARF_SFTP_HOST_KEY_FILE, /etc/wharf/sftp-host-key or that
    Secret;
  - no secret value is in a ConfigMap or a plain env `value`, and the three secrets reach the
    pods through secretKeyRef only;
  - every pod runs non-root, read-only root file system, no privilege escalation, all
    capabilities dropped, /tmp an emptyDir, no service account token;
  - a NetworkPolicy selects core's pods and lets 50051 in only from the gateway, ftp, upload
    and sftp pods of the release;
  - NetworkPolicies select every component: its admin port is reachable from any pod of the
    namespace (and from the metricsFrom namespace asked for) but not from outside, while the
    front-ends' own ports (HTTP, FTP control, every passive port, SFTP) stay reachable from
    anywhere;
  - the pods of every component (--scraped) carry the Prometheus scrape annotations for
    :7321/metrics, the others none;
  - without --service-monitor no ServiceMonitor; with it exactly one per component, in the
    namespace asked for, with the labels asked for, known fields only, scraping port admin's
    /metrics at the interval and timeout asked for, its job the component's name, and its
    selector reaching that component's admin Service and no other component's pods;
  - with --autoscaled, an autoscaling/v2 HorizontalPodAutoscaler on each of those Deployments
    (limits and targets asked for) which then set no replicas; no HPA on any other Deployment,
    which all set replicas; a PodDisruptionBudget for every component that may run more than
    one pod, none for the others;
  - every Deployment spreads its pods over nodes (kubernetes.io/hostname, maxSkew 1,
    ScheduleAnyway) unless --spread says otherwise, each constraint counting the component's
    own pods and no other component's;
  - the admin HTTP API: on core only (0.0.0.0:7322, port admin-api), on exactly one Service,
    a ClusterIP one with that port alone, reached by no Ingress;
  - TLS between front-ends and core (--grpc-tls, --grpc-mtls): core's WHARF_GRPC_TLS_CERT/KEY
    (and with mutual TLS WHARF_GRPC_CLIENT_CA) are files of a mounted Secret, the front-ends
    reach core at https://<core Service>:50051 with WHARF_CORE_CA_FILE (and with mutual TLS
    their WHARF_CORE_CLIENT_CERT/KEY) from a mounted Secret, no front-end mounts core's
    Secret, and without mutual TLS no client key is mounted; without --grpc-tls, no TLS
    setting for core's gRPC anywhere and plain http:// URLs;
  - TLS to PostgreSQL: core alone gets WHARF_DATABASE_SSL*, only beside WHARF_DATABASE_URL;
    each file variable names a file that a read-only mount of the expected Secret or
    ConfigMap key provides (the client key from a Secret, not world-readable), and the mode
    and sources are exactly the ones asked for (--db-sslmode, --db-rootcert,
    --db-client-cert; none unless asked); no front-end mounts them or /etc/wharf/postgres.

Usage: check_manifests.py RENDERED.yaml [--expect-replicas COMPONENT=N ...]
       [--secret VALUE ...] [--database] [--ingress] [--otel-endpoint URL]
       [--grpc-tls [--grpc-mtls]] [--db-sslmode MODE]
       [--db-rootcert secret|configMap/NAME/KEY] [--db-client-cert SECRET/CERTKEY/KEYKEY]
       [--no-sftp] [--sftp VAR=VALUE ...] [--sftp-port N] [--sftp-host-key SECRET/KEY]
       [other options: --help]
Exits 1 naming every failed check.
"""

import argparse
import json
import base64
import os
import sys

import yaml

COMPONENTS = ("core", "gateway", "ftp", "upload", "sftp")
FRONT_ENDS = ("gateway", "ftp", "upload", "sftp")
# component -> (port that /healthz and /readyz are on, {bind env var: port})
ADMIN_PORT = 7321
PORTS = {
    "core": (ADMIN_PORT, {"WHARF_GRPC_ADDR": 50051, "WHARF_ADMIN_ADDR": ADMIN_PORT}),
    "gateway": (8080, {"WHARF_HTTP_ADDR": 8080, "WHARF_ADMIN_ADDR": ADMIN_PORT}),
    "ftp": (ADMIN_PORT, {"WHARF_FTP_ADDR": 2121, "WHARF_ADMIN_ADDR": ADMIN_PORT}),
    "upload": (8081, {"WHARF_UPLOAD_ADDR": 8081, "WHARF_ADMIN_ADDR": ADMIN_PORT}),
    "sftp": (ADMIN_PORT, {"WHARF_SFTP_ADDR": 2222, "WHARF_ADMIN_ADDR": ADMIN_PORT}),
}
# The front-ends' own ports, open to every source (besides the ftp passive range).
PUBLIC_PORTS = {"gateway": [8080], "ftp": [2121], "upload": [8081], "sftp": [2222]}
SFTP_PORT = 2222
# The sftp settings the chart renders and their defaults (values.yaml); --sftp overrides one.
SFTP_DEFAULTS = {
    "WHARF_SFTP_ENV": "prod",
    "WHARF_SFTP_MAX_SESSIONS_PER_USER": "10",
    "WHARF_SFTP_IDLE_TIMEOUT_SECS": "600",
    "WHARF_SFTP_MAX_FILE_BYTES": "67108864",
    "WHARF_SFTP_MAX_FILE_ROWS": "100000",
}
SFTP_HOST_KEY_DIR = "/etc/wharf/sftp-host-key"
SECRET_ENV = {
    "WHARF_DATABASE_URL": "database-url",
    "WHARF_INTERNAL_TOKEN": "internal-token",
    "WHARF_SECRET_KEY": "secret-key",
}
GRPC_PORT = 50051


class Checker:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.docs = [d for d in yaml.safe_load_all(f) if d]
        self.path = path
        self.failures = []
        self.passed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
        return ok

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def deployments(self):
        out = {}
        for d in self.of_kind("Deployment"):
            comp = d["metadata"].get("labels", {}).get("app.kubernetes.io/component")
            out[comp] = d
        return out


def matches(selector, labels):
    """A Kubernetes LabelSelector against a label map."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def container_port(container, port):
    """A probe's or policy's port (number or name) as a number, or None."""
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    return None


def env_map(container):
    return {e["name"]: e for e in container.get("env") or []}


def check_deployments(c, components, expect_replicas, otel_endpoint):
    deps = c.deployments()
    for comp in components:
        d = deps.get(comp)
        if not c.check(d is not None, f"no Deployment labelled component={comp}"):
            continue
        name = d["metadata"]["name"]
        spec = d["spec"]
        pod = spec["template"]
        c.check(
            matches(spec["selector"], pod["metadata"].get("labels", {})),
            f"{name}: selector does not select its own pods",
        )
        if comp in expect_replicas:
            c.check(
                spec.get("replicas") == expect_replicas[comp],
                f"{name}: replicas {spec.get('replicas')}, expected {expect_replicas[comp]}",
            )
        ps = pod["spec"]
        c.check(
            isinstance(ps.get("terminationGracePeriodSeconds"), int),
            f"{name}: no terminationGracePeriodSeconds",
        )
        containers = ps["containers"]
        c.check(len(containers) == 1, f"{name}: expected one container")
        ct = containers[0]
        c.check(ct.get("args") == [comp], f"{name}: args {ct.get('args')}, expected [{comp!r}]")
        probe_port, binds = PORTS[comp]
        for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            probe = (ct.get(kind) or {}).get("httpGet")
            if not c.check(probe is not None, f"{name}: no HTTP {kind}"):
                continue
            c.check(probe.get("path") == path, f"{name}: {kind} path {probe.get('path')}, expected {path}")
            got = container_port(ct, probe.get("port"))
            c.check(got == probe_port, f"{name}: {kind} on port {got}, expected {probe_port}")
        env = env_map(ct)
        names = [e["name"] for e in ct.get("env") or []]
        c.check(len(names) == len(set(names)), f"{name}: duplicate env names {sorted(n for n in names if names.count(n) > 1)}")
        declared = {p["containerPort"] for p in ct.get("ports") or []}
        for var, port in binds.items():
            value = (env.get(var) or {}).get("value")
            c.check(value == f"0.0.0.0:{port}", f"{name}: {var}={value!r}, expected 0.0.0.0:{port}")
            c.check(port in declared, f"{name}: container port {port} not declared")
        c.check(container_port(ct, "admin") == ADMIN_PORT, f"{name}: no container port admin={ADMIN_PORT}")
        if comp in FRONT_ENDS:
            url = (env.get("WHARF_CORE_URL") or {}).get("value", "")
            c.check(url.startswith(("http://", "https://")) and url.endswith(f":{GRPC_PORT}"), f"{name}: WHARF_CORE_URL={url!r}")
        res = ct.get("resources") or {}
        c.check(bool(res.get("requests")) and bool(res.get("limits")), f"{name}: resources need requests and limits")
        if otel_endpoint is not None:
            got = (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or {}).get("value")
            c.check(got == otel_endpoint, f"{name}: OTEL_EXPORTER_OTLP_ENDPOINT={got!r}, expected {otel_endpoint!r}")
    return deps


def check_security(c, deps):
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ps = d["spec"]["template"]["spec"]
        psc = ps.get("securityContext") or {}
        c.check(ps.get("automountServiceAccountToken") is False, f"{name}: service account token mounted")
        volumes = {v["name"]: v for v in ps.get("volumes") or []}
        for ct in ps["containers"] + (ps.get("initContainers") or []):
            sc = ct.get("securityContext") or {}
            non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
            c.check(non_root is True, f"{name}/{ct['name']}: runAsNonRoot is not true")
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            c.check(uid is None or uid > 0, f"{name}/{ct['name']}: runAsUser {uid}")
            c.check(sc.get("readOnlyRootFilesystem") is True, f"{name}/{ct['name']}: root file system not read-only")
            c.check(sc.get("allowPrivilegeEscalation") is False, f"{name}/{ct['name']}: privilege escalation allowed")
            c.check(sc.get("privileged") in (None, False), f"{name}/{ct['name']}: privileged")
            caps = sc.get("capabilities") or {}
            c.check("ALL" in (caps.get("drop") or []), f"{name}/{ct['name']}: capabilities not dropped (ALL)")
            c.check(not caps.get("add"), f"{name}/{ct['name']}: capabilities added {caps.get('add')}")
            tmp = [m for m in ct.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
            c.check(
                len(tmp) == 1 and "emptyDir" in volumes.get(tmp[0]["name"], {}),
                f"{name}/{ct['name']}: /tmp is not an emptyDir",
            )


def check_secrets(c, deps, extra_secret_values, database):
    # Every secret value: the rendered Secrets' data and stringData, plus the ones given.
    values = set(extra_secret_values)
    for s in c.of_kind("Secret"):
        for v in (s.get("data") or {}).values():
            values.add(base64.b64decode(v).decode("utf-8", "replace"))
        values.update((s.get("stringData") or {}).values())
    values = {v for v in values if len(v) >= 8}
    for cm in c.of_kind("ConfigMap"):
        for key, text in list((cm.get("data") or {}).items()) + list((cm.get("binaryData") or {}).items()):
            c.check(
                not any(v in str(text) or v in key for v in values),
                f"ConfigMap {cm['metadata']['name']}: {key} holds a secret value",
            )
    for d in c.docs:
        c.check(
            not any(v in yaml.safe_dump(d.get("metadata", {})) for v in values),
            f"{d['kind']} {d['metadata'].get('name')}: a secret value in its metadata",
        )
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ps = d["spec"]["template"]["spec"]
        for ct in ps["containers"]:
            for e in ct.get("env") or []:
                if "value" in e:
                    c.check(
                        not any(v in str(e["value"]) for v in values),
                        f"{name}: env {e['name']} holds a secret value in plain text",
                    )
            env = env_map(ct)
            wanted = ["WHARF_INTERNAL_TOKEN"]
            if comp == "core":
                wanted.append("WHARF_SECRET_KEY")
                if database or "WHARF_DATABASE_URL" in env:
                    wanted.append("WHARF_DATABASE_URL")
            for var in wanted:
                ref = ((env.get(var) or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                c.check(
                    ref.get("key") == SECRET_ENV[var] and bool(ref.get("name")),
                    f"{name}: {var} is not a secretKeyRef to key {SECRET_ENV[var]}",
                )
            if comp != "core":
                for var in ("WHARF_DATABASE_URL", "WHARF_SECRET_KEY"):
                    c.check(var not in env, f"{name}: a front-end gets {var}")
            c.check(not ct.get("envFrom"), f"{name}: envFrom would hide where secrets go")


def check_ftp_service(c, deps, passive_host):
    ftp = deps.get("ftp")
    if ftp is None:
        return
    ct = ftp["spec"]["template"]["spec"]["containers"][0]
    host = (env_map(ct).get("WHARF_FTP_PASSIVE_HOST") or {}).get("value", "")
    c.check(host == passive_host,
            f"ftp: WHARF_FTP_PASSIVE_HOST={host!r}, expected {passive_host!r}")
    text = (env_map(ct).get("WHARF_FTP_PASSIVE_PORTS") or {}).get("value", "")
    try:
        first, last = (int(x) for x in text.split("-"))
        wanted = set(range(first, last + 1))
    except ValueError:
        c.check(False, f"ftp: WHARF_FTP_PASSIVE_PORTS={text!r} is not FIRST-LAST")
        return
    pod_labels = ftp["spec"]["template"]["metadata"]["labels"]
    services = [s for s in c.of_kind("Service") if matches({"matchLabels": s["spec"].get("selector")}, pod_labels)]
    # The passive range is on one Service (the admin port may be on a ClusterIP one of its own).
    services = [s for s in services if any(p.get("name") != "admin" for p in s["spec"]["ports"])]
    if not c.check(len(services) == 1, f"ftp: {len(services)} Services carry the ftp ports, expected 1"):
        return
    svc = services[0]
    control = [p for p in svc["spec"]["ports"] if container_port(ct, p.get("targetPort")) == 2121]
    c.check(len(control) == 1, "ftp Service: no port targets the control port 2121")
    passive = [p for p in svc["spec"]["ports"] if p not in control and p.get("name") != "admin"]
    got = {p["port"] for p in passive}
    c.check(got == wanted, f"ftp Service passive ports {min(got, default=0)}-{max(got, default=0)} "
            f"({len(got)}) differ from WHARF_FTP_PASSIVE_PORTS={text}")
    c.check(all(container_port(ct, p.get("targetPort", p["port"])) == p["port"] for p in passive),
            "ftp Service: a passive port's targetPort differs from its port")
    declared = {p["containerPort"] for p in ct.get("ports") or []}
    c.check(wanted <= declared, "ftp container does not declare every passive port")


def check_sftp(c, deps, enabled, expected, port):
    """The sftp Deployment and its Service (see the module's doc)."""
    if not enabled:
        c.check("sftp" not in deps, "an sftp Deployment though sftp is off")
        for d in c.docs:
            comp = (d.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component")
            c.check(comp != "sftp", f"{d['kind']} {d['metadata'].get('name')}: rendered for sftp though sftp is off")
        for comp, d in deps.items():
            env = env_map(d["spec"]["template"]["spec"]["containers"][0])
            extra = sorted(v for v in env if v.startswith("WHARF_SFTP_") and v != "WHARF_SFTP_HOST_KEY_FILE")
            c.check(not extra, f"{d['metadata']['name']}: {extra} though sftp is off")
        return
    d = deps.get("sftp")
    if not c.check(d is not None, "no sftp Deployment though sftp is on"):
        return
    name = d["metadata"]["name"]
    ct = d["spec"]["template"]["spec"]["containers"][0]
    env = env_map(ct)
    for var, want in expected.items():
        got = (env.get(var) or {}).get("value")
        c.check(got == want, f"{name}: {var}={got!r}, expected {want!r}")
        if var != "WHARF_SFTP_ENV":
            c.check(isinstance(got, str) and got.isdigit() and not got.startswith("0"),
                    f"{name}: {var}={got!r} is not a positive whole number")
    c.check((env.get("WHARF_SFTP_ENV") or {}).get("value") in ("prod", "uat"),
            f"{name}: WHARF_SFTP_ENV={(env.get('WHARF_SFTP_ENV') or {}).get('value')!r}, expected prod or uat")
    c.check(not any(v.startswith("WHARF_FTP_") for v in env), f"{name}: an FTP setting in the sftp pods")
    own = [p for p in ct.get("ports") or [] if p.get("name") != "admin"]
    c.check([(p.get("name"), p.get("containerPort"), p.get("protocol", "TCP")) for p in own] == [("sftp", SFTP_PORT, "TCP")],
            f"{name}: container ports besides admin {own}, expected only sftp {SFTP_PORT}/TCP")
    labels = d["spec"]["template"]["metadata"]["labels"]
    services = [s for s in c.of_kind("Service")
                if matches({"matchLabels": s["spec"].get("selector")}, labels)
                and any(p.get("name") != "admin" for p in s["spec"]["ports"])]
    if not c.check(len(services) == 1, f"sftp: {len(services)} Services carry the sftp port, expected 1"):
        return
    svc = services[0]
    ports = [p for p in svc["spec"]["ports"] if p.get("name") != "admin"]
    c.check(len(ports) == 1, f"Service {svc['metadata']['name']}: {len(ports)} ports besides admin, expected 1")
    for p in ports:
        c.check(p.get("name") == "sftp", f"Service {svc['metadata']['name']}: port named {p.get('name')!r}, expected sftp")
        c.check(p.get("port") == port, f"Service {svc['metadata']['name']}: port {p.get('port')}, expected {port}")
        c.check(container_port(ct, p.get("targetPort", p.get("port"))) == SFTP_PORT,
                f"Service {svc['metadata']['name']}: port {p.get('port')} does not reach the container's {SFTP_PORT}")
        c.check(p.get("protocol", "TCP") == "TCP", f"Service {svc['metadata']['name']}: sftp port not TCP")


def check_sftp_host_key(c, deps, host_key):
    """The SSH host key: core's alone, from the Secret asked for (see the module's doc)."""
    secret = host_key.split("/")[0] if host_key else None
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ps = d["spec"]["template"]["spec"]
        ct = ps["containers"][0]
        env = env_map(ct)
        var = env.get("WHARF_SFTP_HOST_KEY_FILE")
        if comp != "core":
            c.check(var is None, f"{name}: WHARF_SFTP_HOST_KEY_FILE outside core")
            for m in ct.get("volumeMounts") or []:
                c.check(not m.get("mountPath", "").startswith(SFTP_HOST_KEY_DIR), f"{name}: mounts {m.get('mountPath')}")
            for v in ps.get("volumes") or []:
                name_of = (v.get("secret") or {}).get("secretName")
                c.check(secret is None or name_of != secret, f"{name}: mounts the SSH host key Secret {name_of}")
                c.check(v.get("name") != "sftp-host-key", f"{name}: a volume sftp-host-key outside core")
            continue
        if host_key is None:
            c.check(var is None, f"{name}: WHARF_SFTP_HOST_KEY_FILE though no host key Secret was asked for")
            c.check(not any(m.get("mountPath", "").startswith(SFTP_HOST_KEY_DIR) for m in ct.get("volumeMounts") or []),
                    f"{name}: mounts {SFTP_HOST_KEY_DIR} though no host key Secret was asked for")
            continue
        if not c.check(var is not None and "value" in var, f"{name}: no WHARF_SFTP_HOST_KEY_FILE file"):
            continue
        c.check(var["value"].startswith(SFTP_HOST_KEY_DIR + "/"), f"{name}: WHARF_SFTP_HOST_KEY_FILE={var['value']!r} not under {SFTP_HOST_KEY_DIR}")
        src = mounted_file(c, name, ps, ct, var["value"])
        if src:
            kind, source, key, volume = src
            c.check(f"{kind}/{source}/{key}" == f"secret/{host_key}",
                    f"{name}: WHARF_SFTP_HOST_KEY_FILE from {kind} {source} key {key}, expected Secret {host_key}")
            mode = volume.get("defaultMode", 0o644)
            c.check(mode & 0o007 == 0, f"{name}: the host key's volume mode {mode:o} lets others read it")


def check_network_policy(c, deps):
    core = deps.get("core")
    if core is None:
        return
    core_labels = core["spec"]["template"]["metadata"]["labels"]
    core_ct = core["spec"]["template"]["spec"]["containers"][0]
    policies = [p for p in c.of_kind("NetworkPolicy") if matches(p["spec"]["podSelector"], core_labels)]
    if not c.check(bool(policies), "no NetworkPolicy selects core's pods"):
        return
    pod_labels = {comp: d["spec"]["template"]["metadata"]["labels"] for comp, d in deps.items()}
    strangers = [{}, {"app": "other"}, {**pod_labels.get("gateway", {}), "app.kubernetes.io/instance": "another-release"}]
    grpc_rules = 0
    for pol in policies:
        name = pol["metadata"]["name"]
        c.check("Ingress" in pol["spec"].get("policyTypes", []), f"NetworkPolicy {name}: not an Ingress policy")
        for other, labels in pod_labels.items():
            if other != "core":
                c.check(not matches(pol["spec"]["podSelector"], labels), f"NetworkPolicy {name} also selects {other}")
        for rule in pol["spec"].get("ingress") or []:
            ports = rule.get("ports")
            opens_grpc = not ports or any(
                container_port(core_ct, p.get("port")) == GRPC_PORT or p.get("port") is None for p in ports
            )
            if not opens_grpc:
                continue
            grpc_rules += 1
            peers = rule.get("from")
            if not c.check(bool(peers), f"NetworkPolicy {name}: 50051 open to every source"):
                continue
            for peer in peers:
                c.check(
                    set(peer) == {"podSelector"},
                    f"NetworkPolicy {name}: 50051 open to a peer that is not a pod selector: {peer}",
                )
                sel = peer.get("podSelector")
                for comp, labels in pod_labels.items():
                    allowed = matches(sel, labels)
                    if comp == "core":
                        c.check(not allowed, f"NetworkPolicy {name}: core's own pods reach 50051")
                for labels in strangers:
                    c.check(not matches(sel, labels), f"NetworkPolicy {name}: pods labelled {labels} reach 50051")
            for comp in (f for f in FRONT_ENDS if f in pod_labels):
                c.check(
                    any(matches(p.get("podSelector"), pod_labels[comp]) for p in peers),
                    f"NetworkPolicy {name}: {comp} cannot reach core's 50051",
                )
    c.check(grpc_rules > 0, "no NetworkPolicy rule lets the front-ends reach 50051")


DB_TLS_ENV = ("WHARF_DATABASE_SSLMODE", "WHARF_DATABASE_SSLROOTCERT", "WHARF_DATABASE_SSLCERT",
              "WHARF_DATABASE_SSLKEY")


def mounted_file(c, name, pod_spec, container, path):
    """The (kind, name, key, volume) a file path in `container` comes from, or None."""
    directory, _, base = path.rpartition("/")
    mounts = [m for m in container.get("volumeMounts") or [] if m.get("mountPath") == directory]
    if not c.check(len(mounts) == 1, f"{name}: no single volume mounted at {directory} for {path}"):
        return None
    mount = mounts[0]
    c.check(mount.get("readOnly") is True, f"{name}: {directory} is not mounted read-only")
    c.check(not mount.get("subPath"), f"{name}: {directory} is a subPath mount (never updated)")
    volume = {v["name"]: v for v in pod_spec.get("volumes") or []}.get(mount["name"])
    if not c.check(volume is not None, f"{name}: no volume {mount['name']}"):
        return None
    for kind, ref in (("secret", "secretName"), ("configMap", "name")):
        if kind in volume:
            items = [i for i in volume[kind].get("items") or [] if i.get("path") == base]
            if not c.check(len(items) == 1, f"{name}: {kind} volume {mount['name']} has no item for {base}"):
                return None
            return kind, volume[kind].get(ref), items[0]["key"], volume[kind]
    c.check(False, f"{name}: {path} comes from neither a Secret nor a ConfigMap")
    return None


def check_database_tls(c, deps, sslmode, rootcert, client_cert):
    """TLS to PostgreSQL, as asked for (see the module's doc)."""
    # The Secrets and ConfigMaps the database TLS files come from: no front-end mounts them.
    db_sources = set()
    if rootcert:
        kind, source, _ = rootcert.split("/")
        db_sources.add((kind, source))
    if client_cert:
        db_sources.add(("secret", client_cert.split("/")[0]))
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ps = d["spec"]["template"]["spec"]
        ct = ps["containers"][0]
        env = env_map(ct)
        if comp != "core":
            for var in DB_TLS_ENV:
                c.check(var not in env, f"{name}: a front-end gets {var}")
            for m in ct.get("volumeMounts") or []:
                c.check(not m.get("mountPath", "").startswith("/etc/wharf/postgres"),
                        f"{name}: a front-end mounts {m.get('mountPath')}")
            for v in ps.get("volumes") or []:
                for kind, ref in (("secret", "secretName"), ("configMap", "name")):
                    if kind in v:
                        c.check((kind, v[kind].get(ref)) not in db_sources,
                                f"{name}: a front-end mounts the database TLS {kind} {v[kind].get(ref)}")
            continue
        if any(var in env for var in DB_TLS_ENV):
            c.check("WHARF_DATABASE_URL" in env, f"{name}: WHARF_DATABASE_SSL* without WHARF_DATABASE_URL")
        got = (env.get("WHARF_DATABASE_SSLMODE") or {}).get("value")
        c.check(got == sslmode, f"{name}: WHARF_DATABASE_SSLMODE={got!r}, expected {sslmode!r}")
        root = env.get("WHARF_DATABASE_SSLROOTCERT")
        if rootcert is None:
            c.check(root is None, f"{name}: WHARF_DATABASE_SSLROOTCERT set though no root certificate was asked for")
        elif c.check(root is not None and "value" in root, f"{name}: no WHARF_DATABASE_SSLROOTCERT file"):
            src = mounted_file(c, name, ps, ct, root["value"])
            if src:
                c.check("/".join(src[:3]) == rootcert,
                        f"{name}: WHARF_DATABASE_SSLROOTCERT from {'/'.join(src[:3])}, expected {rootcert}")
        cert, key = env.get("WHARF_DATABASE_SSLCERT"), env.get("WHARF_DATABASE_SSLKEY")
        c.check((cert is None) == (key is None), f"{name}: WHARF_DATABASE_SSLCERT and _SSLKEY go together")
        if client_cert is None:
            c.check(cert is None, f"{name}: a client certificate though none was asked for")
            continue
        secret, cert_key, key_key = client_cert.split("/")
        for var, item in ((cert, cert_key), (key, key_key)):
            if not c.check(var is not None and "value" in var, f"{name}: no client certificate file ({item})"):
                continue
            src = mounted_file(c, name, ps, ct, var["value"])
            if not src:
                continue
            kind, source, got_key, volume = src
            c.check((kind, source, got_key) == ("secret", secret, item),
                    f"{name}: {var['value']} from {kind} {source} key {got_key}, expected Secret {secret} key {item}")
            if item == key_key:
                mode = volume.get("defaultMode", 0o644)
                c.check(mode & 0o007 == 0, f"{name}: the client key's volume mode {mode:o} lets others read it")


def secret_file(pod_spec, container, path):
    """(Secret name, key) of the file `path` in `container`, when a Secret volume provides it."""
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    for m in container.get("volumeMounts") or []:
        mount = m["mountPath"].rstrip("/") + "/"
        if not path.startswith(mount):
            continue
        secret = volumes.get(m["name"], {}).get("secret")
        if secret is None:
            return None
        rel = path[len(mount):]
        items = secret.get("items")
        if items is None:
            return secret["secretName"], rel
        for item in items:
            if item["path"] == rel:
                return secret["secretName"], item["key"]
        return None
    return None


def check_grpc_tls(c, deps, tls, mutual):
    """TLS between the front-ends and core's gRPC, as asked for (see the module's doc)."""
    core = deps.get("core")
    if core is None:
        return
    core_spec = core["spec"]["template"]["spec"]
    core_ct = core_spec["containers"][0]
    core_env = env_map(core_ct)
    core_name = core["metadata"]["name"]
    core_labels = core["spec"]["template"]["metadata"]["labels"]
    # The Service the front-ends dial: the one selecting core's pods with the gRPC port (core's
    # admin port 7321 is on the same Service, so select by port, not by selector alone).
    services = [
        s for s in c.of_kind("Service")
        if matches({"matchLabels": s["spec"].get("selector")}, core_labels)
        and any(container_port(core_ct, p.get("targetPort", p["port"])) == GRPC_PORT for p in s["spec"]["ports"])
    ]
    c.check(len(services) == 1, f"{core_name}: {len(services)} Services carry the gRPC port {GRPC_PORT}, expected 1")
    service = services[0]["metadata"]["name"] if services else None
    tls_vars = ("WHARF_GRPC_TLS_CERT", "WHARF_GRPC_TLS_KEY", "WHARF_GRPC_CLIENT_CA",
                "WHARF_CORE_CA_FILE", "WHARF_CORE_CLIENT_CERT", "WHARF_CORE_CLIENT_KEY")
    if not tls:
        for comp, d in deps.items():
            env = env_map(d["spec"]["template"]["spec"]["containers"][0])
            c.check(not any(v in env for v in tls_vars), f"{comp}: TLS settings for core's gRPC though it is off")
            if comp in FRONT_ENDS:
                url = (env.get("WHARF_CORE_URL") or {}).get("value", "")
                c.check(url.startswith("http://"), f"{comp}: WHARF_CORE_URL={url!r}, expected http://")
        return
    server_secrets = set()
    wanted = ["WHARF_GRPC_TLS_CERT", "WHARF_GRPC_TLS_KEY"] + (["WHARF_GRPC_CLIENT_CA"] if mutual else [])
    for var in wanted:
        path = (core_env.get(var) or {}).get("value", "")
        found = secret_file(core_spec, core_ct, path)
        if c.check(found is not None, f"{core_name}: {var}={path!r} is not a file of a mounted Secret"):
            if var != "WHARF_GRPC_CLIENT_CA":
                server_secrets.add(found[0])
            expected = {"WHARF_GRPC_TLS_CERT": "tls.crt", "WHARF_GRPC_TLS_KEY": "tls.key", "WHARF_GRPC_CLIENT_CA": "ca.crt"}[var]
            c.check(found[1] == expected, f"{core_name}: {var} is key {found[1]!r} of its Secret, expected {expected}")
    if not mutual:
        c.check("WHARF_GRPC_CLIENT_CA" not in core_env, f"{core_name}: WHARF_GRPC_CLIENT_CA without mutual TLS")
    for comp in FRONT_ENDS:
        d = deps.get(comp)
        if d is None:
            continue
        spec = d["spec"]["template"]["spec"]
        ct = spec["containers"][0]
        env = env_map(ct)
        name = d["metadata"]["name"]
        url = (env.get("WHARF_CORE_URL") or {}).get("value", "")
        c.check(url == f"https://{service}:{GRPC_PORT}", f"{name}: WHARF_CORE_URL={url!r}, expected https://{service}:{GRPC_PORT}")
        files = {"WHARF_CORE_CA_FILE": "ca.crt"}
        if mutual:
            files.update({"WHARF_CORE_CLIENT_CERT": "tls.crt", "WHARF_CORE_CLIENT_KEY": "tls.key"})
        else:
            c.check("WHARF_CORE_CLIENT_CERT" not in env and "WHARF_CORE_CLIENT_KEY" not in env,
                    f"{name}: a client certificate without mutual TLS")
        for var, key in files.items():
            path = (env.get(var) or {}).get("value", "")
            found = secret_file(spec, ct, path)
            if c.check(found is not None, f"{name}: {var}={path!r} is not a file of a mounted Secret"):
                c.check(found[1] == key, f"{name}: {var} is key {found[1]!r} of its Secret, expected {key}")
        for v in spec.get("volumes") or []:
            secret = v.get("secret") or {}
            c.check(secret.get("secretName") not in server_secrets, f"{name}: mounts core's Secret {secret.get('secretName')}")
            if not mutual and secret.get("secretName") and "core" in v["name"]:
                keys = [i["key"] for i in secret.get("items") or [{"key": "(all)"}]]
                c.check("tls.key" not in keys and "(all)" not in keys, f"{name}: mounts a client key without mutual TLS")


def reachable(c, pod_labels, ct, port, source):
    """Whether the NetworkPolicies let SOURCE reach PORT of a pod (labels POD_LABELS, container
    CT). SOURCE: ("pod", labels) a pod of the namespace, ("namespace", name) a pod of another
    namespace named in a namespaceSelector, or ("outside",) a client outside the cluster."""
    policies = [p for p in c.of_kind("NetworkPolicy") if matches(p["spec"]["podSelector"], pod_labels)]
    if not policies:
        return True
    for pol in policies:
        for rule in pol["spec"].get("ingress") or []:
            ports = rule.get("ports")
            port_ok = not ports or any(
                p.get("port") is None
                or container_port(ct, p["port"]) == port
                or (isinstance(p["port"], int) and p.get("endPort") and p["port"] <= port <= p["endPort"])
                for p in ports
            )
            if not port_ok:
                continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                if source[0] == "pod" and set(peer) == {"podSelector"} and matches(peer["podSelector"], source[1]):
                    return True
                if source[0] == "namespace" and "namespaceSelector" in peer and not peer.get("ipBlock"):
                    ns = (peer["namespaceSelector"].get("matchLabels") or {}).get("kubernetes.io/metadata.name")
                    if ns == source[1]:
                        return True
                if source[0] == "outside" and (peer.get("ipBlock") or {}).get("cidr") in ("0.0.0.0/0", "::/0"):
                    return True
    return False


def check_admin_reach(c, deps, metrics_from_namespace):
    """Every component's admin port: from the namespace (and the metricsFrom namespace), never
    from outside; the front-ends' own ports from anywhere."""
    scraper = ("pod", {"app.kubernetes.io/name": "prometheus"})
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        ct = d["spec"]["template"]["spec"]["containers"][0]
        selected = any(matches(p["spec"]["podSelector"], labels) for p in c.of_kind("NetworkPolicy"))
        if not c.check(selected, f"no NetworkPolicy selects {name}'s pods"):
            continue
        c.check(reachable(c, labels, ct, ADMIN_PORT, scraper), f"{name}: admin port {ADMIN_PORT} closed to the namespace")
        c.check(not reachable(c, labels, ct, ADMIN_PORT, ("outside",)), f"{name}: admin port {ADMIN_PORT} open to the outside")
        if metrics_from_namespace:
            c.check(
                reachable(c, labels, ct, ADMIN_PORT, ("namespace", metrics_from_namespace)),
                f"{name}: admin port {ADMIN_PORT} closed to namespace {metrics_from_namespace} (metricsFrom)",
            )
        public = list(PUBLIC_PORTS.get(comp, []))
        if comp == "ftp":
            first, last = (int(x) for x in env_map(ct)["WHARF_FTP_PASSIVE_PORTS"]["value"].split("-"))
            public += range(first, last + 1)
        closed = [p for p in public if not reachable(c, labels, ct, p, ("outside",))]
        c.check(not closed, f"{name}: its own ports {closed[:5]}{'…' if len(closed) > 5 else ''} closed to the outside")


def check_admin_services(c, deps):
    """Each component's admin port on exactly one Service, a ClusterIP one, port named admin."""
    services = c.of_kind("Service")
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        ct = d["spec"]["template"]["spec"]["containers"][0]
        admin = []
        for s in services:
            if not matches({"matchLabels": s["spec"].get("selector")}, labels):
                continue
            for p in s["spec"]["ports"]:
                if container_port(ct, p.get("targetPort", p["port"])) == ADMIN_PORT:
                    admin.append((s, p))
        if not c.check(len(admin) == 1, f"{name}: {len(admin)} Service ports reach the admin port, expected 1"):
            continue
        s, p = admin[0]
        c.check(p.get("name") == "admin" and p["port"] == ADMIN_PORT,
                f"Service {s['metadata']['name']}: the admin port is {p.get('name')}:{p['port']}, expected admin:{ADMIN_PORT}")
        c.check(s["spec"].get("type", "ClusterIP") == "ClusterIP",
                f"Service {s['metadata']['name']} ({s['spec'].get('type')}) carries {name}'s admin port")


def check_prometheus(c, deps, scraped):
    """The prometheus.io annotations on the pods of exactly the SCRAPED components."""
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ann = d["spec"]["template"]["metadata"].get("annotations") or {}
        if comp not in scraped:
            c.check(not any(k.startswith("prometheus.io/") for k in ann), f"{name} pods: prometheus.io annotations though off")
            continue
        c.check(ann.get("prometheus.io/scrape") == "true", f"{name} pods: no prometheus.io/scrape=true")
        c.check(ann.get("prometheus.io/port") == str(ADMIN_PORT), f"{name} pods: prometheus.io/port is not {ADMIN_PORT}")
        c.check(ann.get("prometheus.io/path") == "/metrics", f"{name} pods: prometheus.io/path is not /metrics")


# The fields of monitoring.coreos.com/v1 ServiceMonitor the chart may use. kubernetes-validate
# has no schema for this CRD (scripts/helm.sh takes it out before validating), so its shape is
# checked here: known fields only, and what each must hold.
SERVICE_MONITOR_SPEC = {"selector", "namespaceSelector", "endpoints", "jobLabel", "targetLabels", "podTargetLabels"}
SERVICE_MONITOR_ENDPOINT = {"port", "path", "scheme", "interval", "scrapeTimeout", "relabelings", "metricRelabelings", "honorLabels"}


def check_service_monitors(c, deps, expected, namespace, labels, interval, timeout):
    monitors = c.of_kind("ServiceMonitor")
    if not expected:
        c.check(not monitors, "ServiceMonitor rendered though metrics.serviceMonitor is off")
        return
    services = c.of_kind("Service")
    covered = {}
    for sm in monitors:
        name = sm["metadata"].get("name")
        c.check(sm.get("apiVersion") == "monitoring.coreos.com/v1", f"ServiceMonitor {name}: apiVersion {sm.get('apiVersion')}")
        c.check(sm["metadata"].get("namespace") == namespace,
                f"ServiceMonitor {name}: namespace {sm['metadata'].get('namespace')}, expected {namespace}")
        got_labels = sm["metadata"].get("labels") or {}
        for k, v in labels.items():
            c.check(got_labels.get(k) == v, f"ServiceMonitor {name}: label {k}={got_labels.get(k)!r}, expected {v!r}")
        spec = sm.get("spec") or {}
        c.check(set(spec) <= SERVICE_MONITOR_SPEC, f"ServiceMonitor {name}: unknown spec fields {sorted(set(spec) - SERVICE_MONITOR_SPEC)}")
        selector = spec.get("selector")
        if not c.check(isinstance(selector, dict) and bool(selector.get("matchLabels") or selector.get("matchExpressions")),
                       f"ServiceMonitor {name}: no selector (it would select every Service)"):
            continue
        # The Services it selects: in the namespaces its namespaceSelector names.
        names = (spec.get("namespaceSelector") or {}).get("matchNames") or [sm["metadata"].get("namespace")]
        selected = [s for s in services if s["metadata"].get("namespace") in names and matches(selector, s["metadata"].get("labels") or {})]
        # Targets: the selected Services' ports named as the endpoints' ports, and the pods they select.
        endpoints = spec.get("endpoints") or []
        if not c.check(len(endpoints) == 1, f"ServiceMonitor {name}: {len(endpoints)} endpoints, expected 1"):
            continue
        ep = endpoints[0]
        c.check(set(ep) <= SERVICE_MONITOR_ENDPOINT, f"ServiceMonitor {name}: unknown endpoint fields {sorted(set(ep) - SERVICE_MONITOR_ENDPOINT)}")
        c.check(ep.get("port") == "admin", f"ServiceMonitor {name}: endpoint port {ep.get('port')!r}, expected admin")
        c.check(ep.get("path") == "/metrics", f"ServiceMonitor {name}: endpoint path {ep.get('path')!r}, expected /metrics")
        c.check(ep.get("interval") == interval, f"ServiceMonitor {name}: interval {ep.get('interval')!r}, expected {interval!r}")
        c.check(ep.get("scrapeTimeout") == timeout, f"ServiceMonitor {name}: scrapeTimeout {ep.get('scrapeTimeout')!r}, expected {timeout!r}")
        for r in ep.get("relabelings") or []:
            c.check(set(r) <= {"action", "sourceLabels", "separator", "targetLabel", "regex", "modulus", "replacement"},
                    f"ServiceMonitor {name}: unknown relabeling fields {sorted(r)}")
        jobs = [r.get("replacement") for r in ep.get("relabelings") or [] if r.get("targetLabel") == "job"]
        targets = set()
        for svc in selected:
            if not any(p.get("name") == ep.get("port") for p in svc["spec"]["ports"]):
                continue
            for comp, d in deps.items():
                if matches({"matchLabels": svc["spec"].get("selector")}, d["spec"]["template"]["metadata"]["labels"]):
                    targets.add(comp)
        if not c.check(len(targets) == 1, f"ServiceMonitor {name}: scrapes the pods of {sorted(targets)}, expected one component"):
            continue
        comp = targets.pop()
        c.check(comp not in covered, f"ServiceMonitors {covered.get(comp)} and {name} both scrape {comp}")
        covered[comp] = name
        c.check(jobs == [deps[comp]["metadata"]["name"]], f"ServiceMonitor {name}: job {jobs}, expected {deps[comp]['metadata']['name']}")
    c.check(set(covered) == set(deps), f"ServiceMonitors scrape {sorted(covered)}, expected every component {sorted(deps)}")


def check_autoscaling(c, deps, autoscaled, expect_replicas):
    """AUTOSCALED: component -> (min, max, cpu %, memory % or 0). Those components have one
    autoscaling/v2 HorizontalPodAutoscaler on their Deployment, which then sets no replicas;
    every other Deployment sets replicas and has none (core never has one). A component that may
    run more than one pod has a PodDisruptionBudget."""
    hpas = c.of_kind("HorizontalPodAutoscaler")
    c.check("core" not in autoscaled, "core cannot be autoscaled (asked for by the caller)")
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        spec = d["spec"]
        mine = [h for h in hpas if (h["spec"].get("scaleTargetRef") or {}).get("name") == name]
        pods = 1
        if comp not in autoscaled:
            c.check(not mine, f"{name}: a HorizontalPodAutoscaler though autoscaling is off")
            c.check(isinstance(spec.get("replicas"), int), f"{name}: no replicas though not autoscaled")
            pods = spec.get("replicas") or 1
        else:
            lo, hi, cpu, mem = autoscaled[comp]
            c.check("replicas" not in spec, f"{name}: replicas {spec.get('replicas')} set though an HPA owns them")
            if c.check(len(mine) == 1, f"{name}: {len(mine)} HorizontalPodAutoscalers, expected 1"):
                h = mine[0]
                hs = h["spec"]
                ref = hs["scaleTargetRef"]
                c.check(h["apiVersion"] == "autoscaling/v2", f"HPA {h['metadata']['name']}: apiVersion {h['apiVersion']}")
                c.check(ref.get("apiVersion") == "apps/v1" and ref.get("kind") == "Deployment",
                        f"HPA {h['metadata']['name']}: scaleTargetRef {ref}")
                c.check(h["metadata"].get("namespace") == d["metadata"].get("namespace"),
                        f"HPA {h['metadata']['name']}: not in its Deployment's namespace")
                c.check((hs.get("minReplicas"), hs.get("maxReplicas")) == (lo, hi),
                        f"HPA {h['metadata']['name']}: replicas {hs.get('minReplicas')}-{hs.get('maxReplicas')}, expected {lo}-{hi}")
                targets = {}
                for m in hs.get("metrics") or []:
                    r = m.get("resource") or {}
                    t = r.get("target") or {}
                    c.check(m.get("type") == "Resource" and t.get("type") == "Utilization",
                            f"HPA {h['metadata']['name']}: a metric that is not a Resource utilization: {m}")
                    targets[r.get("name")] = t.get("averageUtilization")
                want = {"cpu": cpu, **({"memory": mem} if mem else {})}
                c.check(targets == want, f"HPA {h['metadata']['name']}: targets {targets}, expected {want}")
                requests = (d["spec"]["template"]["spec"]["containers"][0].get("resources") or {}).get("requests") or {}
                c.check(all(k in requests for k in want), f"{name}: no resources.requests for {sorted(set(want) - set(requests))}")
            pods = hi
        if comp in expect_replicas and comp not in autoscaled:
            pods = expect_replicas[comp]
        pdbs = [p for p in c.of_kind("PodDisruptionBudget")
                if matches(p["spec"].get("selector"), spec["template"]["metadata"]["labels"])]
        if pods > 1:
            c.check(len(pdbs) == 1, f"{name}: {len(pdbs)} PodDisruptionBudgets for up to {pods} pods, expected 1")
        else:
            c.check(not pdbs, f"{name}: a PodDisruptionBudget for one pod")


def check_spread(c, deps, wanted):
    """WANTED: component -> the topology keys its pods are spread over, in order (default:
    kubernetes.io/hostname, soft). Each constraint's labelSelector selects the component's own
    pods and no other component's."""
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ps = d["spec"]["template"]["spec"]
        constraints = ps.get("topologySpreadConstraints") or []
        keys = wanted.get(comp, ["kubernetes.io/hostname"])
        got = [t.get("topologyKey") for t in constraints]
        c.check(got == keys, f"{name}: topologySpreadConstraints over {got}, expected {keys}")
        for t in constraints:
            sel = t.get("labelSelector")
            c.check(matches(sel, d["spec"]["template"]["metadata"]["labels"]),
                    f"{name}: topology spread over {t.get('topologyKey')} does not count its own pods")
            for other, od in deps.items():
                if other != comp:
                    c.check(not matches(sel, od["spec"]["template"]["metadata"]["labels"]),
                            f"{name}: topology spread over {t.get('topologyKey')} counts {other}'s pods")
            if comp not in wanted:
                c.check(t.get("maxSkew") == 1 and t.get("whenUnsatisfiable") == "ScheduleAnyway",
                        f"{name}: default spread is not maxSkew 1, ScheduleAnyway: {t}")


def check_ingress(c, deps, wanted):
    ingresses = c.of_kind("Ingress")
    if not wanted:
        c.check(not ingresses, "Ingress rendered though ingress is off")
        return
    services = {s["metadata"]["name"]: s for s in c.of_kind("Service")}
    reached = set()
    for ing in ingresses:
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                svc = services.get(backend["name"])
                if not c.check(svc is not None, f"Ingress {ing['metadata']['name']}: no Service {backend['name']}"):
                    continue
                port = backend["port"]
                c.check(
                    any(p.get("name") == port.get("name") or p.get("port") == port.get("number") for p in svc["spec"]["ports"]),
                    f"Ingress {ing['metadata']['name']}: Service {backend['name']} has no port {port}",
                )
                for comp in ("gateway", "upload"):
                    if comp in deps and matches({"matchLabels": svc["spec"]["selector"]}, deps[comp]["spec"]["template"]["metadata"]["labels"]):
                        reached.add(comp)
    c.check(reached == {"gateway", "upload"}, f"Ingress reaches {sorted(reached)}, expected gateway and upload")


ADMIN_API_PORT = 7322


def check_admin_api(c, deps):
    """The admin HTTP API: core alone listens on it (0.0.0.0:7322, container port admin-api),
    one ClusterIP Service carries it and no other Service, Ingress or LoadBalancer reaches it,
    no front-end gets it, and the NetworkPolicy opens it on core only."""
    core = deps.get("core")
    if not c.check(core is not None, "admin API: no core Deployment"):
        return
    ct = core["spec"]["template"]["spec"]["containers"][0]
    env = env_map(ct)
    c.check(env.get("WHARF_ADMIN_API_ADDR", {}).get("value") == f"0.0.0.0:{ADMIN_API_PORT}",
            f"core: WHARF_ADMIN_API_ADDR {env.get('WHARF_ADMIN_API_ADDR')}, expected 0.0.0.0:{ADMIN_API_PORT}")
    c.check(container_port(ct, "admin-api") == ADMIN_API_PORT, "core: no container port admin-api=7322")
    for comp, d in deps.items():
        if comp == "core":
            continue
        for other in d["spec"]["template"]["spec"]["containers"]:
            c.check("WHARF_ADMIN_API_ADDR" not in env_map(other), f"{comp}: has WHARF_ADMIN_API_ADDR")
    labels = core["spec"]["template"]["metadata"]["labels"]
    carrying = [s for s in c.of_kind("Service")
                if matches({"matchLabels": s["spec"].get("selector") or {}}, labels)
                and any(p.get("targetPort") in ("admin-api", ADMIN_API_PORT) for p in s["spec"]["ports"])]
    if c.check(len(carrying) == 1, f"admin API: {len(carrying)} Services carry it, expected 1"):
        svc = carrying[0]
        c.check(svc["spec"].get("type", "ClusterIP") == "ClusterIP",
                f"Service {svc['metadata']['name']}: the admin API on a {svc['spec'].get('type')} Service")
        c.check(len(svc["spec"]["ports"]) == 1, f"Service {svc['metadata']['name']}: more than the admin API")
        for ing in c.of_kind("Ingress"):
            backends = json.dumps(ing.get("spec", {}))
            c.check(svc["metadata"]["name"] not in backends,
                    f"Ingress {ing['metadata']['name']} reaches the admin API")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rendered")
    ap.add_argument("--expect-replicas", action="append", default=[], metavar="COMPONENT=N")
    ap.add_argument("--secret", action="append", default=[], help="a secret value that must not leak")
    ap.add_argument("--database", action="store_true", help="core must get WHARF_DATABASE_URL")
    ap.add_argument("--ingress", action="store_true", help="Ingresses for gateway and upload expected")
    ap.add_argument("--otel-endpoint", help="the OTLP endpoint every component must get")
    ap.add_argument("--ftp-passive-host", default="", help="the address PASV must advertise")
    ap.add_argument("--metrics-from-namespace", help="a namespace networkPolicy.metricsFrom lets reach the admin ports")
    ap.add_argument("--scraped", default=",".join(COMPONENTS),
                    help="comma-separated components whose pods carry the prometheus.io annotations (default: all)")
    ap.add_argument("--service-monitor", metavar="NAMESPACE",
                    help="a ServiceMonitor per component expected, in NAMESPACE (default: none may be rendered)")
    ap.add_argument("--service-monitor-label", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--scrape-interval", default="30s")
    ap.add_argument("--spread", action="append", default=[], metavar="COMPONENT=KEY,KEY",
                    help="the topology keys COMPONENT's pods are spread over (empty: none); "
                         "default kubernetes.io/hostname, maxSkew 1, ScheduleAnyway")
    ap.add_argument("--autoscaled", action="append", default=[], metavar="COMPONENT=MIN:MAX:CPU%:MEMORY%",
                    help="an HPA expected for COMPONENT (MEMORY% 0: CPU only); the others must have none")
    ap.add_argument("--scrape-timeout", default="10s")
    ap.add_argument("--grpc-tls", action="store_true", help="core's gRPC serves TLS, the front-ends use https://")
    ap.add_argument("--grpc-mtls", action="store_true", help="with --grpc-tls: mutual TLS")
    ap.add_argument("--db-sslmode", help="core's WHARF_DATABASE_SSLMODE (default: unset)")
    ap.add_argument("--db-rootcert", help="where core's CA bundle comes from: secret|configMap/NAME/KEY")
    ap.add_argument("--db-client-cert", help="core's client certificate: SECRET/CERTKEY/KEYKEY")
    ap.add_argument("--no-sftp", action="store_true", help="sftp.enabled is off: nothing of sftp may be rendered")
    ap.add_argument("--sftp", action="append", default=[], metavar="VAR=VALUE",
                    help="an sftp setting's expected value (default: the chart's, e.g. WHARF_SFTP_MAX_FILE_ROWS=100000)")
    ap.add_argument("--sftp-port", type=int, default=SFTP_PORT, help="the sftp Service's port (default 2222)")
    ap.add_argument("--sftp-host-key", metavar="SECRET/KEY",
                    help="core's SSH host key comes from KEY of Secret SECRET (default: no host key file)")
    args = ap.parse_args()
    replicas = {k: int(v) for k, v in (x.split("=", 1) for x in args.expect_replicas)}
    c = Checker(args.rendered)
    components = [x for x in COMPONENTS if not (args.no_sftp and x == "sftp")]
    sftp_expected = dict(SFTP_DEFAULTS)
    for x in args.sftp:
        var, value = x.split("=", 1)
        if var not in SFTP_DEFAULTS:
            ap.error(f"--sftp {var}: not one of {sorted(SFTP_DEFAULTS)}")
        sftp_expected[var] = value
    deps = check_deployments(c, components, replicas, args.otel_endpoint)
    check_security(c, deps)
    check_secrets(c, deps, args.secret, args.database)
    check_ftp_service(c, deps, args.ftp_passive_host)
    check_sftp(c, deps, not args.no_sftp, sftp_expected, args.sftp_port)
    check_sftp_host_key(c, deps, args.sftp_host_key)
    check_network_policy(c, deps)
    check_admin_reach(c, deps, args.metrics_from_namespace)
    check_admin_services(c, deps)
    check_admin_api(c, deps)
    check_prometheus(c, deps, {x for x in args.scraped.split(",") if x})
    check_service_monitors(c, deps, args.service_monitor is not None, args.service_monitor,
                           dict(x.split("=", 1) for x in args.service_monitor_label),
                           args.scrape_interval, args.scrape_timeout)
    check_autoscaling(c, deps, {k: tuple(int(x) for x in v.split(":")) for k, v in (x.split("=", 1) for x in args.autoscaled)},
                      replicas)
    check_spread(c, deps, {k: [x for x in v.split(",") if x] for k, v in (x.split("=", 1) for x in args.spread)})
    check_grpc_tls(c, deps, args.grpc_tls, args.grpc_mtls)
    check_database_tls(c, deps, args.db_sslmode, args.db_rootcert, args.db_client_cert)
    check_ingress(c, deps, args.ingress)
    for f in c.failures:
        print(f"FAIL {args.rendered}: {f}", file=sys.stderr)
    verdict = "all hold" if not c.failures else f"{len(c.failures)} FAILED"
    print(f"{os.path.basename(args.rendered)}: {c.passed + len(c.failures)} checks, {verdict}")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
