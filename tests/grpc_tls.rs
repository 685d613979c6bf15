//! TLS between front-ends and core (issue #20): the real `wharf core` serving gRPC over TLS,
//! plain or mutual, and real `wharf gateway`s reaching it with `https://` URLs, each its own
//! process on loopback, with certificates from a throw-away CA made by the openssl CLI
//! (`wharf_testkit::ca`) and a second, unrelated CA.
//!
//! A partner's push through a gateway set up right gets `0`; a gateway set up wrong (no client
//! certificate for a mutual-TLS core, one from the other CA, the wrong CA for core's
//! certificate, a certificate for another host, plain `http://` to a TLS core, the wrong
//! internal token) gets the door's "core unavailable" answer, is not ready, and its log says
//! what to fix. Configurations that cannot work stop start-up with a message naming the
//! variable.

mod util;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use util::data::{bom_row, envelope};
use util::http::{client_token, request, send, Auth, Reply};
use util::{free_port, installation, Backend, Server, Wharf};
use wharf_testkit::ca::{CertFiles, TestCa};

const BOM: &str = "/v1.0/scc/data/sync/t1/bom";
/// How long a gateway's readiness may take to settle.
const SETTLE: Duration = Duration::from_secs(20);

/// The CAs and certificates of one test: core's CA signs core's certificate (for localhost
/// and 127.0.0.1) and the front-ends' client certificates; the other CA is unrelated.
struct Pki {
    ca: TestCa,
    core: CertFiles,
    gateway: CertFiles,
    other_ca: TestCa,
    stranger: CertFiles,
}

impl Pki {
    fn new(w: &Wharf) -> Pki {
        let dir = w.data_dir.join("pki");
        let ca = TestCa::new(&dir, "wharf-ca");
        let core = ca.server_cert("core", &["localhost", "127.0.0.1"]);
        let gateway = ca.client_cert("gateway");
        let other_ca = TestCa::new(&dir, "other-ca");
        let stranger = other_ca.client_cert("stranger");
        Pki {
            ca,
            core,
            gateway,
            other_ca,
            stranger,
        }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `wharf core` on the installation's gRPC port serving `cert`, mutual TLS when `client_ca`.
fn start_core(w: &Wharf, cert: &CertFiles, client_ca: Option<&Path>) -> Server {
    let mut env = vec![
        ("WHARF_GRPC_TLS_CERT", path(&cert.cert)),
        ("WHARF_GRPC_TLS_KEY", path(&cert.key)),
    ];
    if let Some(ca) = client_ca {
        env.push(("WHARF_GRPC_CLIENT_CA", path(ca)));
    }
    let mut core = w.start(&["core"], &env, w.grpc_port);
    let log = core.stderr();
    let want = if client_ca.is_some() {
        "tls=\"mutual\""
    } else {
        "tls=\"on\""
    };
    assert!(log.contains(want), "core says how it serves: {log}");
    core
}

/// A gateway of its own (own HTTP port) reaching core at `core_url` with `env` on top; its
/// base URL and the process.
fn start_gateway(w: &Wharf, core_url: &str, env: &[(&str, String)]) -> (String, Server) {
    let port = free_port();
    let mut all = vec![
        ("WHARF_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("WHARF_CORE_URL", core_url.to_string()),
    ];
    all.extend(env.iter().cloned());
    let server = w.start(&["gateway"], &all, port);
    (format!("http://127.0.0.1:{port}"), server)
}

fn https_url(w: &Wharf, host: &str) -> String {
    format!("https://{host}:{}", w.grpc_port)
}

fn ca_env(ca: &TestCa) -> (&'static str, String) {
    ("WHARF_CORE_CA_FILE", path(&ca.cert))
}

fn client_env(cert: &CertFiles) -> [(&'static str, String); 2] {
    [
        ("WHARF_CORE_CLIENT_CERT", path(&cert.cert)),
        ("WHARF_CORE_CLIENT_KEY", path(&cert.key)),
    ]
}

fn get(url: &str) -> Reply {
    request("GET", url, &Auth::None, None, &[])
}

/// Poll `/readyz` of the gateway at `base` until it answers `status`.
#[track_caller]
fn wait_ready(base: &str, status: u16) -> Reply {
    let deadline = Instant::now() + SETTLE;
    loop {
        let r = get(&format!("{base}/readyz"));
        if r.status == status {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{base}/readyz did not answer {status}: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A partner's push of one batch of one sequence through the gateway at `base`, with a
/// client-credentials token: the answer.
fn push(base: &str, partner: &str, batch_id: &str) -> Reply {
    let token = client_token(base, partner);
    let body = envelope(batch_id, 1, "1", vec![bom_row(batch_id)]);
    send(
        "POST",
        &format!("{base}{BOM}"),
        &Auth::Bearer(&token),
        &body,
    )
}

/// A gateway that cannot use core: readiness 503, a push by `user` (HTTP Basic: core checks
/// the password, the first core call) gets the door's system error, and the log carries
/// `why`.
#[track_caller]
fn refused(base: &str, gateway: &mut Server, user: &str, why: &str) {
    let r = wait_ready(base, 503);
    assert_eq!(
        r.json(),
        json!({ "status": "unavailable", "reason": "core unreachable" })
    );
    let body = envelope("REFUSED-1", 1, "1", vec![bom_row("refused")]);
    let r = send(
        "POST",
        &format!("{base}{BOM}"),
        &Auth::Basic(user, util::PASSWORD),
        &body,
    );
    let answer = r.expect(500, "-1");
    assert_eq!(
        answer["msg"], "system error: core unavailable, safe to retry",
        "{r:?}"
    );
    // The start-up check says it first, each failed call again.
    let deadline = Instant::now() + SETTLE;
    loop {
        let log = gateway.stderr();
        if log.contains(why) {
            assert!(
                log.contains("ERROR"),
                "the fault is logged as an error: {log}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway's log does not say {why:?}: {log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Core over TLS without client certificates: a gateway with the CA pushes a batch (`0`); the
/// internal token is still checked over TLS; a gateway trusting the other CA, one reaching
/// core by a name its certificate does not carry, and a plain `http://` one are refused, each
/// with its reason in the log.
#[test]
fn a_gateway_pushes_through_a_tls_core() {
    let (w, partner, user) = installation(Backend::Sqlite);
    let pki = Pki::new(&w);
    let mut core = start_core(&w, &pki.core, None);

    let (base, mut gateway) = start_gateway(&w, &https_url(&w, "localhost"), &[ca_env(&pki.ca)]);
    wait_ready(&base, 200);
    push(&base, &partner, "TLS-1").expect(200, "0");
    // A gateway with a client certificate works too where core asks for none.
    let mut env = vec![ca_env(&pki.ca)];
    env.extend(client_env(&pki.gateway));
    let (by_ip, mut gateway_ip) = start_gateway(&w, &https_url(&w, "127.0.0.1"), &env);
    wait_ready(&by_ip, 200);
    push(&by_ip, &partner, "TLS-2").expect(200, "0");

    // The wrong internal token, over a TLS connection that works.
    let (base_token, mut wrong_token) = start_gateway(
        &w,
        &https_url(&w, "localhost"),
        &[
            ca_env(&pki.ca),
            ("WHARF_INTERNAL_TOKEN", "not-the-internal-token-0123".into()),
        ],
    );
    refused(
        &base_token,
        &mut wrong_token,
        &user,
        "core refused this front-end's internal token",
    );

    // The CA that did not sign core's certificate.
    let (base_ca, mut wrong_ca) =
        start_gateway(&w, &https_url(&w, "localhost"), &[ca_env(&pki.other_ca)]);
    refused(
        &base_ca,
        &mut wrong_ca,
        &user,
        "core's certificate was not trusted by WHARF_CORE_CA_FILE",
    );

    // Plain HTTP/2 against a TLS core.
    let (base_plain, mut plain) = start_gateway(&w, &w.grpc_url(), &[]);
    refused(
        &base_plain,
        &mut plain,
        &user,
        "WHARF_CORE_URL must be https://",
    );

    // The right CA, but core reached by a name its certificate does not carry.
    let elsewhere = pki.ca.server_cert("elsewhere", &["core.elsewhere.test"]);
    core.stop("core");
    let mut core = start_core(&w, &elsewhere, None);
    let (base_name, mut wrong_name) =
        start_gateway(&w, &https_url(&w, "localhost"), &[ca_env(&pki.ca)]);
    refused(
        &base_name,
        &mut wrong_name,
        &user,
        "core's certificate does not name the host in WHARF_CORE_URL",
    );

    for (name, g) in [
        ("gateway", &mut gateway),
        ("gateway by IP", &mut gateway_ip),
        ("wrong-token gateway", &mut wrong_token),
        ("wrong-CA gateway", &mut wrong_ca),
        ("plain gateway", &mut plain),
        ("wrong-name gateway", &mut wrong_name),
    ] {
        g.stop(name);
    }
    core.stop("core");
}

/// Core requiring client certificates (WHARF_GRPC_CLIENT_CA): a gateway with one signed by
/// that CA pushes a batch (`0`); one without a certificate, and one with a certificate of the
/// other CA, are refused in the handshake: their pushes get "core unavailable", they are not
/// ready, and their logs say why. FTP and the upload page with the certificate are ready.
#[test]
fn mutual_tls_lets_in_only_front_ends_with_a_certificate() {
    let (w, partner, user) = installation(Backend::Sqlite);
    let pki = Pki::new(&w);
    let mut core = start_core(&w, &pki.core, Some(&pki.ca.cert));
    let url = https_url(&w, "localhost");

    let mut env = vec![ca_env(&pki.ca)];
    env.extend(client_env(&pki.gateway));
    let (base, mut gateway) = start_gateway(&w, &url, &env);
    wait_ready(&base, 200);
    push(&base, &partner, "MTLS-1").expect(200, "0");
    let log = gateway.stderr();
    assert!(log.contains("core reachable"), "{log}");

    let (base_none, mut no_cert) = start_gateway(&w, &url, &[ca_env(&pki.ca)]);
    refused(
        &base_none,
        &mut no_cert,
        &user,
        "core requires a client certificate",
    );

    let mut env = vec![ca_env(&pki.ca)];
    env.extend(client_env(&pki.stranger));
    let (base_stranger, mut stranger) = start_gateway(&w, &url, &env);
    refused(
        &base_stranger,
        &mut stranger,
        &user,
        "core refused this front-end's client certificate",
    );

    // The gateway that was let in still is, after the refusals.
    push(&base, &partner, "MTLS-2").expect(200, "0");

    // FTP and the upload page take the same settings: ready through the mutual-TLS core.
    let mut env = vec![ca_env(&pki.ca), ("WHARF_CORE_URL", url.clone())];
    env.extend(client_env(&pki.gateway));
    let ftp_admin = free_port();
    let mut ftp_env = env.clone();
    ftp_env.push(("WHARF_ADMIN_ADDR", format!("127.0.0.1:{ftp_admin}")));
    let mut ftp = w.start(&["ftp"], &ftp_env, w.ftp_port);
    let mut upload = w.start(&["upload"], &env, w.upload_port);
    for ready in [
        format!("http://127.0.0.1:{ftp_admin}/readyz"),
        format!("{}/readyz", w.upload_url()),
    ] {
        let deadline = Instant::now() + SETTLE;
        loop {
            let r = get(&ready);
            if r.status == 200 {
                assert_eq!(r.body, "ready\n", "{ready}");
                break;
            }
            assert!(Instant::now() < deadline, "{ready}: {r:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    for (name, g) in [
        ("gateway", &mut gateway),
        ("gateway without a certificate", &mut no_cert),
        ("gateway with the other CA's certificate", &mut stranger),
        ("ftp", &mut ftp),
        ("upload page", &mut upload),
    ] {
        g.stop(name);
    }
    core.stop("core");
}

/// Environment variables on top of an installation's.
type Env = Vec<(&'static str, String)>;

/// `wharf ARGS` with `env` on top of the installation's must exit non-zero at start-up; its
/// stderr.
#[track_caller]
fn start_up_fails(w: &Wharf, args: &[&str], env: &[(&str, String)]) -> String {
    let mut cmd = w.command(args);
    cmd.env("WHARF_ADMIN_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("WHARF_ADMIN_API_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("WHARF_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("WHARF_GRPC_ADDR", format!("127.0.0.1:{}", free_port()));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wharf");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wharf {args:?} with {env:?} kept running; it must refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("stderr");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!status.success(), "wharf {args:?} with {env:?}: {stderr}");
    stderr
}

/// TLS settings that cannot work stop start-up, naming the variable at fault: an https://
/// core URL without WHARF_CORE_CA_FILE, a CA file that is missing or holds no certificate,
/// http:// and https:// in one list, half a client certificate, a key that is not the
/// certificate's, and core's own certificate or client CA missing.
#[test]
fn tls_settings_that_cannot_work_stop_start_up() {
    let w = Wharf::new(Backend::Sqlite);
    let pki = Pki::new(&w);
    let https = https_url(&w, "localhost");
    let url = |u: &str| ("WHARF_CORE_URL", u.to_string());
    let missing: PathBuf = w.data_dir.join("pki").join("no-such.crt");
    let not_pem = w.data_dir.join("pki").join("not-pem.crt");
    std::fs::write(&not_pem, "just text\n").unwrap();
    let cases: Vec<(Env, Vec<&str>)> = vec![
        (
            vec![url(&https)],
            vec!["WHARF_CORE_URL is https://", "WHARF_CORE_CA_FILE must name"],
        ),
        (
            vec![url(&https), ("WHARF_CORE_CA_FILE", path(&missing))],
            vec!["WHARF_CORE_CA_FILE=", "cannot read it"],
        ),
        (
            vec![url(&https), ("WHARF_CORE_CA_FILE", path(&not_pem))],
            vec!["WHARF_CORE_CA_FILE=", "no PEM certificate"],
        ),
        (
            vec![url(&format!("{https},{}", w.grpc_url())), ca_env(&pki.ca)],
            vec!["WHARF_CORE_URL mixes http:// and https://"],
        ),
        (
            vec![url(&w.grpc_url()), ca_env(&pki.ca)],
            vec!["WHARF_CORE_URL is http://", "WHARF_CORE_CA_FILE"],
        ),
        (
            vec![
                url(&https),
                ca_env(&pki.ca),
                ("WHARF_CORE_CLIENT_CERT", path(&pki.gateway.cert)),
            ],
            vec!["WHARF_CORE_CLIENT_CERT and WHARF_CORE_CLIENT_KEY go together"],
        ),
        (
            vec![
                url(&https),
                ca_env(&pki.ca),
                ("WHARF_CORE_CLIENT_CERT", path(&pki.gateway.cert)),
                ("WHARF_CORE_CLIENT_KEY", path(&pki.stranger.key)),
            ],
            vec!["WHARF_CORE_CLIENT_KEY is the key of WHARF_CORE_CLIENT_CERT"],
        ),
    ];
    for (env, wanted) in &cases {
        for component in ["gateway", "ftp", "upload"] {
            let stderr = start_up_fails(&w, &[component], env);
            for want in wanted {
                assert!(stderr.contains(want), "{component} {env:?}: {stderr}");
            }
        }
    }
    let core_cases: Vec<(Env, &str)> = vec![
        (
            vec![
                ("WHARF_GRPC_TLS_CERT", path(&missing)),
                ("WHARF_GRPC_TLS_KEY", path(&pki.core.key)),
            ],
            "WHARF_GRPC_TLS_CERT=",
        ),
        (
            vec![("WHARF_GRPC_TLS_CERT", path(&pki.core.cert))],
            "WHARF_GRPC_TLS_CERT and WHARF_GRPC_TLS_KEY go together",
        ),
        (
            vec![
                ("WHARF_GRPC_TLS_CERT", path(&pki.core.cert)),
                ("WHARF_GRPC_TLS_KEY", path(&pki.gateway.key)),
            ],
            "is the key the certificate's?",
        ),
        (
            vec![
                ("WHARF_GRPC_TLS_CERT", path(&pki.core.cert)),
                ("WHARF_GRPC_TLS_KEY", path(&pki.core.key)),
                ("WHARF_GRPC_CLIENT_CA", path(&not_pem)),
            ],
            "WHARF_GRPC_CLIENT_CA=",
        ),
        (
            vec![("WHARF_GRPC_CLIENT_CA", path(&pki.ca.cert))],
            "WHARF_GRPC_CLIENT_CA (mutual TLS) needs WHARF_GRPC_TLS_CERT",
        ),
    ];
    for (env, want) in &core_cases {
        let stderr = start_up_fails(&w, &["core"], env);
        assert!(stderr.contains(want), "core {env:?}: {stderr}");
    }
}
