//! `gateway/openapi.yaml` stays true: every documented path and method answers the real
//! server with one of its documented statuses (never 404 or 405), and every method the
//! document leaves out is refused with 405.

mod util;

use std::process::Command;

use util::{Backend, Wharf};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// (path, method, documented statuses) read from the document's `paths:` section.
fn documented() -> Vec<(String, String, Vec<u16>)> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/gateway/openapi.yaml"))
            .expect("gateway/openapi.yaml");
    let mut out: Vec<(String, String, Vec<u16>)> = Vec::new();
    let mut path: Option<String> = None;
    let mut in_paths = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 2 && t.starts_with('/') && t.ends_with(':') {
            path = Some(t.trim_end_matches(':').to_string());
        } else if indent == 4 && METHODS.iter().any(|m| t == format!("{m}:")) {
            let p = path.clone().expect("a method under a path");
            out.push((p, t.trim_end_matches(':').to_string(), Vec::new()));
        } else if indent == 8 && t.starts_with('"') {
            if let (Some(last), Ok(code)) = (out.last_mut(), t[1..4].parse::<u16>()) {
                last.2.push(code);
            }
        }
    }
    out
}

fn status(method: &str, url: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "30",
            "-X",
        ])
        .arg(method.to_uppercase())
        .arg(url)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn every_documented_route_answers_and_nothing_else_does() {
    let routes = documented();
    assert!(routes.len() >= 12, "the document lists the API: {routes:?}");
    let w = Wharf::new(Backend::Sqlite);
    let _server = w.serve();
    let mut paths: Vec<&str> = routes.iter().map(|(p, _, _)| p.as_str()).collect();
    paths.dedup();
    for path in paths {
        let concrete = path
            .replace("{data_category}", "t1")
            .replace("{biz_key}", "bom")
            .replace("{batch_id}", "B1")
            .replace("{action}", "revert");
        let url = format!("{}{concrete}", w.http_url());
        for method in METHODS {
            let got = status(method, &url);
            match routes.iter().find(|(p, m, _)| p == path && m == method) {
                Some((_, _, statuses)) => {
                    assert!(
                        statuses.contains(&got) && got != 404 && got != 405,
                        "{method} {path}: answered {got}, documented {statuses:?}"
                    );
                }
                None => assert_eq!(got, 405, "{method} {path} is not documented"),
            }
        }
    }
}
