//! TLS to PostgreSQL, end to end: the real `wharf` binary (`wharf migrate`, which opens
//! and migrates the store, and `wharf core` with its `/readyz`) against the private cluster
//! `scripts/pg.sh`'s `pg_tls_start` runs: TLS only (`hostnossl … reject`), a server
//! certificate for DNS:localhost only, SCRAM passwords for `wharf` and certificate logins for
//! `wharf_cert`. Every libpq setting is tried as a URL parameter and as its
//! `WHARF_DATABASE_SSL*` variable, and no output ever carries the URL's password. Without the
//! cluster's variables every test fails: these tests never skip.

mod util;

use std::process::Output;
use std::time::{Duration, Instant};

use util::http::{request, Auth};
use util::{unique, Backend, Wharf, SECRET};

/// What `pg_tls_start` exported.
struct Cluster {
    /// `postgres://wharf:PASSWORD@localhost:PORT/wharf_tls`, no ssl* parameters.
    url: String,
    /// `postgres://wharf_cert@localhost:PORT/wharf_tls_cert` (logs in by certificate).
    cert_url: String,
    /// The CA that signed the server's and the client's certificates.
    ca: String,
    /// A CA that signed nothing of this server.
    other_ca: String,
    client_cert: String,
    client_key: String,
    /// The password in `url`, which no output may show.
    password: String,
    port: u16,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the suite with scripts/test, which starts the TLS-only \
             PostgreSQL (scripts/pg.sh, pg_tls_start); these tests never skip"
        )
    })
}

fn cluster() -> Cluster {
    let url = var("WHARF_TEST_TLS_DATABASE_URL");
    let credentials = url
        .strip_prefix("postgres://")
        .and_then(|rest| rest.split_once('@'))
        .map(|(c, _)| c)
        .unwrap_or_else(|| panic!("WHARF_TEST_TLS_DATABASE_URL has no credentials"));
    let password = credentials
        .split_once(':')
        .map(|(_, p)| p.to_string())
        .expect("WHARF_TEST_TLS_DATABASE_URL has a password");
    assert!(password.len() >= 16, "a password no output says by chance");
    let port = url
        .rsplit_once(':')
        .and_then(|(_, tail)| tail.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("WHARF_TEST_TLS_DATABASE_URL has a port");
    assert!(
        url.contains("@localhost:"),
        "WHARF_TEST_TLS_DATABASE_URL names the host localhost: {port}"
    );
    Cluster {
        cert_url: var("WHARF_TEST_TLS_CERT_DATABASE_URL"),
        ca: var("WHARF_TEST_TLS_CA"),
        other_ca: var("WHARF_TEST_TLS_OTHER_CA"),
        client_cert: var("WHARF_TEST_TLS_CLIENT_CERT"),
        client_key: var("WHARF_TEST_TLS_CLIENT_KEY"),
        url,
        password,
        port,
    }
}

impl Cluster {
    /// The password URL with `params` (`a=b&c=d`) as its query.
    fn with(&self, params: &str) -> String {
        with(&self.url, params)
    }

    /// The password URL, host 127.0.0.1 instead of localhost (not in the certificate).
    fn by_address(&self, params: &str) -> String {
        with(&self.url.replace("@localhost:", "@127.0.0.1:"), params)
    }

    /// `wharf migrate` against `url` with `env` on top (it opens the store, creating or
    /// upgrading its tables): its output, checked for the password whatever the outcome.
    fn open_store(&self, url: &str, env: &[(&str, &str)]) -> Output {
        let mut w = Wharf::new(Backend::Sqlite);
        w.database_url = Some(url.to_string());
        w.extra_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let out = w.run(&["migrate"], "");
        self.no_password(&out);
        out
    }

    /// `wharf migrate` succeeds: the store was opened and migrated over TLS (the server takes
    /// nothing else).
    #[track_caller]
    fn connects(&self, url: &str, env: &[(&str, &str)]) {
        let out = self.open_store(url, env);
        assert!(
            out.status.success(),
            "wharf migrate against {} with {env:?} failed: {}",
            url.replace(&self.password, "PASSWORD"),
            String::from_utf8_lossy(&out.stderr)
        );
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(said.contains("store ready: postgresql"), "{said}");
    }

    /// `wharf migrate` fails with exit 1 (the store is unreachable); its stderr.
    #[track_caller]
    fn fails(&self, url: &str, env: &[(&str, &str)]) -> String {
        let out = self.open_store(url, env);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(1),
            "wharf migrate against {} with {env:?} should fail: {stderr}",
            url.replace(&self.password, "PASSWORD"),
        );
        stderr
    }

    #[track_caller]
    fn no_password(&self, out: &Output) {
        for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                !text.contains(&self.password),
                "the database password is in wharf's {what}"
            );
        }
    }
}

fn with(url: &str, params: &str) -> String {
    if params.is_empty() {
        url.to_string()
    } else {
        format!("{url}?{params}")
    }
}

#[track_caller]
fn says(stderr: &str, parts: &[&str]) {
    for part in parts {
        assert!(stderr.contains(part), "expected {part:?} in: {stderr}");
    }
}

#[test]
fn verify_full_with_the_right_ca_connects() {
    let c = cluster();
    c.connects(
        &c.with(&format!("sslmode=verify-full&sslrootcert={}", c.ca)),
        &[],
    );
}

/// tokio-postgres-rustls hands SCRAM the server certificate's hash, so the login is bound to
/// this TLS session (SCRAM-SHA-256-PLUS): asked for, it works.
#[test]
fn channel_binding_comes_with_tls() {
    let c = cluster();
    c.connects(
        &c.with(&format!(
            "sslmode=verify-full&sslrootcert={}&channel_binding=require",
            c.ca
        )),
        &[],
    );
    c.connects(&c.with("sslmode=require&channel_binding=require"), &[]);
}

#[test]
fn verify_full_with_another_ca_fails_clearly() {
    let c = cluster();
    let stderr = c.fails(
        &c.with(&format!("sslmode=verify-full&sslrootcert={}", c.other_ca)),
        &[],
    );
    says(
        &stderr,
        &[
            &format!(
                "TLS to PostgreSQL at localhost:{} failed (sslmode=verify-full): \
                 certificate not trusted",
                c.port
            ),
            &c.other_ca,
            "sslrootcert=CA.pem in WHARF_DATABASE_URL or WHARF_DATABASE_SSLROOTCERT",
        ],
    );
    // Without sslrootcert the public roots are asked, and they do not know the test CA.
    let stderr = c.fails(&c.with("sslmode=verify-full"), &[]);
    says(
        &stderr,
        &[
            "certificate not trusted: the public CA roots (no sslrootcert given)",
            "WHARF_DATABASE_SSLROOTCERT",
        ],
    );
}

#[test]
fn verify_full_by_an_address_the_certificate_lacks_fails_naming_the_host() {
    let c = cluster();
    let stderr = c.fails(
        &c.by_address(&format!("sslmode=verify-full&sslrootcert={}", c.ca)),
        &[],
    );
    says(
        &stderr,
        &[
            &format!(
                "TLS to PostgreSQL at 127.0.0.1:{} failed (sslmode=verify-full): certificate \
                 not valid for host name 127.0.0.1 (it names localhost)",
                c.port
            ),
            "sslmode=verify-ca in WHARF_DATABASE_URL or WHARF_DATABASE_SSLMODE",
        ],
    );
    // verify-ca checks the chain only: the same address connects.
    c.connects(
        &c.by_address(&format!("sslmode=verify-ca&sslrootcert={}", c.ca)),
        &[],
    );
    // … but not with a CA that did not sign the server's certificate.
    let stderr = c.fails(
        &c.by_address(&format!("sslmode=verify-ca&sslrootcert={}", c.other_ca)),
        &[],
    );
    says(&stderr, &["(sslmode=verify-ca): certificate not trusted"]);
}

#[test]
fn require_and_prefer_connect_without_a_ca() {
    let c = cluster();
    c.connects(&c.with("sslmode=require"), &[]);
    c.connects(&c.by_address("sslmode=require"), &[]);
    c.connects(&c.with("sslmode=prefer"), &[]);
    // No sslmode, host localhost: prefer, and the server offers TLS.
    c.connects(&c.with(""), &[]);
    // require with a root certificate checks the chain as verify-ca (libpq).
    c.connects(
        &c.by_address(&format!("sslmode=require&sslrootcert={}", c.ca)),
        &[],
    );
    let stderr = c.fails(
        &c.with(&format!("sslmode=require&sslrootcert={}", c.other_ca)),
        &[],
    );
    says(
        &stderr,
        &[
            "(sslmode=require with sslrootcert, so the chain is checked as verify-ca): \
             certificate not trusted",
        ],
    );
}

#[test]
fn disable_is_refused_by_a_server_that_takes_tls_only() {
    let c = cluster();
    let stderr = c.fails(&c.with("sslmode=disable"), &[]);
    says(
        &stderr,
        &[
            &format!(
                "PostgreSQL at localhost:{} refused the connection (sslmode=disable)",
                c.port
            ),
            "no encryption",
            "the server takes TLS connections only",
            "set sslmode to verify-full, verify-ca or require (in WHARF_DATABASE_URL or \
             WHARF_DATABASE_SSLMODE)",
        ],
    );
}

/// The variables do what the URL's parameters do, and win over them.
#[test]
fn the_variables_work_as_the_url_parameters_and_win() {
    let c = cluster();
    let verify_full = [
        ("WHARF_DATABASE_SSLMODE", "verify-full"),
        ("WHARF_DATABASE_SSLROOTCERT", c.ca.as_str()),
    ];
    c.connects(&c.url, &verify_full);
    let stderr = c.fails(&c.by_address(""), &verify_full);
    says(
        &stderr,
        &["(sslmode=verify-full): certificate not valid for host name 127.0.0.1"],
    );
    let stderr = c.fails(
        &c.url,
        &[
            ("WHARF_DATABASE_SSLMODE", "verify-full"),
            ("WHARF_DATABASE_SSLROOTCERT", c.other_ca.as_str()),
        ],
    );
    says(
        &stderr,
        &[
            "certificate not trusted",
            &format!("{} (WHARF_DATABASE_SSLROOTCERT)", c.other_ca),
        ],
    );
    c.connects(&c.url, &[("WHARF_DATABASE_SSLMODE", "require")]);
    let stderr = c.fails(&c.url, &[("WHARF_DATABASE_SSLMODE", "disable")]);
    says(
        &stderr,
        &["refused the connection (sslmode=disable)", "no encryption"],
    );
    // The variables win: over a URL asking for disable, and over the URL's CA.
    c.connects(&c.with("sslmode=disable"), &verify_full);
    let stderr = c.fails(
        &c.with(&format!("sslmode=verify-full&sslrootcert={}", c.ca)),
        &[("WHARF_DATABASE_SSLROOTCERT", c.other_ca.as_str())],
    );
    says(&stderr, &["certificate not trusted", &c.other_ca]);
    let stderr = c.fails(
        &c.with(&format!("sslmode=verify-full&sslrootcert={}", c.ca)),
        &[("WHARF_DATABASE_SSLMODE", "disable")],
    );
    says(&stderr, &["(sslmode=disable)"]);
    // A bad value is a configuration error (exit 64) naming the variable.
    let mut w = Wharf::new(Backend::Sqlite);
    w.database_url = Some(c.url.clone());
    w.extra_env = vec![("WHARF_DATABASE_SSLMODE".into(), "verify".into())];
    let out = w.run(&["partner", "add", &unique("P")], &format!("{SECRET}\n"));
    c.no_password(&out);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    says(
        &String::from_utf8_lossy(&out.stderr),
        &["WHARF_DATABASE_SSLMODE=\"verify\" is not one of"],
    );
    let out = {
        w.extra_env = vec![(
            "WHARF_DATABASE_SSLROOTCERT".into(),
            "/nonexistent/wharf-ca.pem".into(),
        )];
        w.run(&["partner", "add", &unique("P")], &format!("{SECRET}\n"))
    };
    c.no_password(&out);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    says(
        &String::from_utf8_lossy(&out.stderr),
        &["WHARF_DATABASE_SSLROOTCERT /nonexistent/wharf-ca.pem: "],
    );
}

/// `sslcert` and `sslkey`: the role wharf_cert logs in by certificate alone.
#[test]
fn a_client_certificate_logs_in() {
    let c = cluster();
    let full = format!("sslmode=verify-full&sslrootcert={}", c.ca);
    c.connects(
        &with(
            &c.cert_url,
            &format!("{full}&sslcert={}&sslkey={}", c.client_cert, c.client_key),
        ),
        &[],
    );
    c.connects(
        &with(&c.cert_url, &full),
        &[
            ("WHARF_DATABASE_SSLCERT", c.client_cert.as_str()),
            ("WHARF_DATABASE_SSLKEY", c.client_key.as_str()),
        ],
    );
    let stderr = c.fails(&with(&c.cert_url, &full), &[]);
    says(
        &stderr,
        &[
            "refused the connection (sslmode=verify-full)",
            "certificate",
            "WHARF_DATABASE_SSLCERT",
            "WHARF_DATABASE_SSLKEY",
        ],
    );
}

/// `wharf core` over TLS: ready when its store is; refused at start-up when the server's
/// certificate is not trusted, saying so.
#[test]
fn core_runs_on_a_tls_store() {
    let c = cluster();
    let mut w = Wharf::new(Backend::Sqlite);
    w.database_url = Some(c.url.clone());
    w.extra_env = vec![
        ("WHARF_DATABASE_SSLMODE".into(), "verify-full".into()),
        ("WHARF_DATABASE_SSLROOTCERT".into(), c.ca.clone()),
    ];
    let admin = format!("127.0.0.1:{}", w.admin_port);
    let mut core = w.start(&["core"], &[("WHARF_ADMIN_ADDR", admin)], w.grpc_port);
    let ready = format!("{}/readyz", w.admin_url());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = request("GET", &ready, &Auth::None, None, &[]);
        if r.status == 200 {
            assert_eq!(r.body.trim(), "ready");
            break;
        }
        assert!(Instant::now() < deadline, "core not ready: {r:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    core.stop("wharf core");
    assert!(
        !core.stderr().contains(&c.password),
        "the password is in core's log"
    );

    w.extra_env[1].1 = c.other_ca.clone();
    let out = w
        .command(&["core"])
        .env("RUST_LOG", "trace")
        .output()
        .expect("run wharf core");
    c.no_password(&out);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    says(
        &String::from_utf8_lossy(&out.stderr),
        &[
            "TLS to PostgreSQL at localhost:",
            "(sslmode=verify-full): certificate not trusted",
        ],
    );
}

/// Not even a trace-level log shows the password, whether the connection works or not.
#[test]
fn the_password_never_shows() {
    let c = cluster();
    let trace = [("RUST_LOG", "trace")];
    c.connects(
        &c.with(&format!("sslmode=verify-full&sslrootcert={}", c.ca)),
        &trace,
    );
    for params in [
        format!("sslmode=verify-full&sslrootcert={}", c.other_ca),
        "sslmode=disable".to_string(),
        "sslmode=verify-full".to_string(),
    ] {
        // `fails` and `connects` check every output for the password.
        c.fails(&c.with(&params), &trace);
    }
    // A wrong password: refused by the server, and not shown either.
    let stderr = c.fails(
        &c.url.replace(&c.password, "not-the-password-0123"),
        &[("WHARF_DATABASE_SSLMODE", "require"), ("RUST_LOG", "trace")],
    );
    says(&stderr, &["password authentication failed"]);
    assert!(!stderr.contains("not-the-password-0123"), "{stderr}");
}
