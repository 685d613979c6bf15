//! A throw-away certificate authority for TLS tests, made with the openssl CLI
//! (`/usr/bin/openssl`, or `openssl` on the PATH): a CA, server certificates for chosen names
//! and addresses, and client certificates, each a PEM certificate and an unencrypted PEM key
//! (EC P-256) in a directory of the test's. Two `TestCa`s are unrelated: neither trusts the
//! other's certificates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA whose files are in `dir`: `NAME-ca.crt` and `NAME-ca.key`.
pub struct TestCa {
    dir: PathBuf,
    name: String,
    /// The CA certificate (PEM): what a peer is told to trust.
    pub cert: PathBuf,
    key: PathBuf,
}

/// A certificate and its key, PEM files.
#[derive(Clone, Debug)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The openssl configuration every certificate is made with: the extensions a TLS library
/// checks (a CA that may sign, leaves that may not, the key usages, the names).
const CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = wharf test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

fn openssl() -> Command {
    let bin = if Path::new("/usr/bin/openssl").exists() {
        "/usr/bin/openssl"
    } else {
        "openssl"
    };
    Command::new(bin)
}

/// Run openssl with `args`; panics with its output when it fails.
fn run(args: &[&str]) {
    let out = openssl()
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run openssl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn text(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

const NEW_KEY: [&str; 4] = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

impl TestCa {
    /// A new CA named `name` (its files' prefix and its common name) in `dir` (created).
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).expect("the CA's directory");
        let config = dir.join(format!("{name}-openssl.cnf"));
        std::fs::write(&config, CONFIG.replace("wharf test", name)).expect("openssl config");
        let cert = dir.join(format!("{name}-ca.crt"));
        let key = dir.join(format!("{name}-ca.key"));
        let mut args = vec!["req", "-x509", "-new", "-config", text(&config)];
        args.extend(["-extensions", "ca", "-nodes", "-days", "2"]);
        args.extend(NEW_KEY);
        args.extend(["-keyout", text(&key), "-out", text(&cert)]);
        run(&args);
        TestCa {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            cert,
            key,
        }
    }

    /// A server certificate signed by this CA for `names` (`localhost`, `127.0.0.1`: DNS
    /// names and IP addresses alike).
    pub fn server_cert(&self, file: &str, names: &[&str]) -> CertFiles {
        let san = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(_) => format!("IP:{n}"),
                Err(_) => format!("DNS:{n}"),
            })
            .collect::<Vec<_>>()
            .join(",");
        self.leaf(file, "server", Some(&san))
    }

    /// A client certificate signed by this CA (common name `file`).
    pub fn client_cert(&self, file: &str) -> CertFiles {
        self.leaf(file, "client", None)
    }

    fn leaf(&self, file: &str, kind: &str, san: Option<&str>) -> CertFiles {
        let config = self.dir.join(format!("{}-{file}.cnf", self.name));
        let mut conf = CONFIG.replace("wharf test", file);
        if let Some(san) = san {
            conf = conf.replace(
                "extendedKeyUsage = serverAuth\n",
                &format!("extendedKeyUsage = serverAuth\nsubjectAltName = {san}\n"),
            );
        }
        std::fs::write(&config, conf).expect("openssl config");
        let csr = self.dir.join(format!("{file}.csr"));
        let cert = self.dir.join(format!("{file}.crt"));
        let key = self.dir.join(format!("{file}.key"));
        let mut args = vec!["req", "-new", "-config", text(&config), "-nodes"];
        args.extend(NEW_KEY);
        args.extend(["-keyout", text(&key), "-out", text(&csr)]);
        run(&args);
        let serial = format!(
            "0x{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(1)
        );
        run(&[
            "x509",
            "-req",
            "-in",
            text(&csr),
            "-CA",
            text(&self.cert),
            "-CAkey",
            text(&self.key),
            "-set_serial",
            &serial,
            "-days",
            "2",
            "-extfile",
            text(&config),
            "-extensions",
            kind,
            "-out",
            text(&cert),
        ]);
        CertFiles { cert, key }
    }
}
