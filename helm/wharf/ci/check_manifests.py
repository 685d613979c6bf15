#!/usr/bin/env python3
"""Semantic checks on the manifests `helm template` rendered from the wharf chart.

Reads the rendered YAML (parsed with PyYAML, never grepped) and checks what the chart promises
(SPEC §7.3 and helm/wharf/README.md):
  - the four Deployments exist, run `wharf COMPONENT`, bind 0.0.0.0 on their ports, and probe
    /healthz (liveness) and /readyz (readiness) on the right port: core and ftp on the admin
    port 9090, gateway on 8080, upload on 8081;
  - the ftp pods advertise the passive host asked for (WHARF_FTP_PASSIVE_HOST);
  - the ftp Service exposes exactly the passive range the ftp pods get in
    WHARF_FTP_PASSIVE_PORTS (same numbers, targetPort = port), plus the control port;
  - no secret value is in a ConfigMap or a plain env `value`, and the three secrets reach the
    pods through secretKeyRef only;
  - every pod runs non-root, read-only root file system, no privilege escalation, all
    capabilities dropped, /tmp an emptyDir, no service account token;
  - a NetworkPolicy selects core's pods and lets 50051 in only from gateway, ftp and upload
    pods of the release;
  - core's pods carry the Prometheus scrape annotations for :9090/metrics;
  - TLS to PostgreSQL: core alone gets WHARF_DATABASE_SSL*, only beside WHARF_DATABASE_URL;
    each file variable names a file that a read-only mount of the expected Secret or
    ConfigMap key provides (the client key from a Secret, not world-readable), and the mode
    and sources are exactly the ones asked for (none unless asked).

Usage: check_manifests.py RENDERED.yaml [--expect-replicas COMPONENT=N ...]
       [--secret VALUE ...] [--database] [--ingress] [--otel-endpoint URL]
       [--db-sslmode MODE] [--db-rootcert secret|configMap/NAME/KEY]
       [--db-client-cert SECRET/CERTKEY/KEYKEY]
Exits 1 naming every failed check.
"""

import argparse
import base64
import os
import sys

import yaml

COMPONENTS = ("core", "gateway", "ftp", "upload")
FRONT_ENDS = ("gateway", "ftp", "upload")
# component -> (port that /healthz and /readyz are on, {bind env var: port})
PORTS = {
    "core": (9090, {"WHARF_GRPC_ADDR": 50051, "WHARF_ADMIN_ADDR": 9090}),
    "gateway": (8080, {"WHARF_HTTP_ADDR": 8080}),
    "ftp": (9090, {"WHARF_FTP_ADDR": 2121, "WHARF_ADMIN_ADDR": 9090}),
    "upload": (8081, {"WHARF_UPLOAD_ADDR": 8081}),
}
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


def check_deployments(c, expect_replicas, otel_endpoint):
    deps = c.deployments()
    for comp in COMPONENTS:
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
        if comp in FRONT_ENDS:
            url = (env.get("WHARF_CORE_URL") or {}).get("value", "")
            c.check(url.startswith("http://") and url.endswith(f":{GRPC_PORT}"), f"{name}: WHARF_CORE_URL={url!r}")
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
    if not c.check(len(services) == 1, f"ftp: {len(services)} Services select the ftp pods, expected 1"):
        return
    svc = services[0]
    control = [p for p in svc["spec"]["ports"] if container_port(ct, p.get("targetPort")) == 2121]
    c.check(len(control) == 1, "ftp Service: no port targets the control port 2121")
    passive = [p for p in svc["spec"]["ports"] if p not in control]
    got = {p["port"] for p in passive}
    c.check(got == wanted, f"ftp Service passive ports {min(got, default=0)}-{max(got, default=0)} "
            f"({len(got)}) differ from WHARF_FTP_PASSIVE_PORTS={text}")
    c.check(all(container_port(ct, p.get("targetPort", p["port"])) == p["port"] for p in passive),
            "ftp Service: a passive port's targetPort differs from its port")
    declared = {p["containerPort"] for p in ct.get("ports") or []}
    c.check(wanted <= declared, "ftp container does not declare every passive port")


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
            for comp in FRONT_ENDS:
                c.check(
                    any(matches(p.get("podSelector"), pod_labels.get(comp, {})) for p in peers),
                    f"NetworkPolicy {name}: {comp} cannot reach core's 50051",
                )
    c.check(grpc_rules > 0, "no NetworkPolicy rule lets the front-ends reach 50051")
    # The admin port stays reachable in the namespace (probes, Prometheus).
    admin_open = any(
        any(container_port(core_ct, p.get("port")) == 9090 for p in rule.get("ports") or [])
        and any(peer.get("podSelector") == {} for peer in rule.get("from") or [])
        for pol in policies
        for rule in pol["spec"].get("ingress") or []
    )
    c.check(admin_open, "core's admin port 9090 is not open to the namespace")


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
    for comp, d in deps.items():
        name = d["metadata"]["name"]
        ps = d["spec"]["template"]["spec"]
        ct = ps["containers"][0]
        env = env_map(ct)
        if comp != "core":
            for var in DB_TLS_ENV:
                c.check(var not in env, f"{name}: a front-end gets {var}")
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


def check_prometheus(c, deps):
    core = deps.get("core")
    if core is None:
        return
    ann = core["spec"]["template"]["metadata"].get("annotations") or {}
    c.check(ann.get("prometheus.io/scrape") == "true", "core pods: no prometheus.io/scrape=true")
    c.check(ann.get("prometheus.io/port") == "9090", "core pods: prometheus.io/port is not 9090")
    c.check(ann.get("prometheus.io/path") == "/metrics", "core pods: prometheus.io/path is not /metrics")


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rendered")
    ap.add_argument("--expect-replicas", action="append", default=[], metavar="COMPONENT=N")
    ap.add_argument("--secret", action="append", default=[], help="a secret value that must not leak")
    ap.add_argument("--database", action="store_true", help="core must get WHARF_DATABASE_URL")
    ap.add_argument("--ingress", action="store_true", help="Ingresses for gateway and upload expected")
    ap.add_argument("--otel-endpoint", help="the OTLP endpoint every component must get")
    ap.add_argument("--ftp-passive-host", default="", help="the address PASV must advertise")
    ap.add_argument("--db-sslmode", help="core's WHARF_DATABASE_SSLMODE (default: unset)")
    ap.add_argument("--db-rootcert", help="where core's CA bundle comes from: secret|configMap/NAME/KEY")
    ap.add_argument("--db-client-cert", help="core's client certificate: SECRET/CERTKEY/KEYKEY")
    args = ap.parse_args()
    replicas = {k: int(v) for k, v in (x.split("=", 1) for x in args.expect_replicas)}
    c = Checker(args.rendered)
    deps = check_deployments(c, replicas, args.otel_endpoint)
    check_security(c, deps)
    check_secrets(c, deps, args.secret, args.database)
    check_ftp_service(c, deps, args.ftp_passive_host)
    check_network_policy(c, deps)
    check_prometheus(c, deps)
    check_database_tls(c, deps, args.db_sslmode, args.db_rootcert, args.db_client_cert)
    check_ingress(c, deps, args.ingress)
    for f in c.failures:
        print(f"FAIL {args.rendered}: {f}", file=sys.stderr)
    verdict = "all hold" if not c.failures else f"{len(c.failures)} FAILED"
    print(f"{os.path.basename(args.rendered)}: {c.passed + len(c.failures)} checks, {verdict}")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
