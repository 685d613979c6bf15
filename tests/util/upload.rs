//! The upload page driven with curl and a cookie jar, as a plain browser without JavaScript
//! would: log in, fetch the form's CSRF token, send a multipart upload, read result pages.

use std::path::Path;

use super::http::curl;
use super::PASSWORD;

/// The value of the first `name="csrf" value="…"` on a page.
pub fn csrf(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let at = page
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf on {page}"))
        + marker.len();
    page[at..at + page[at..].find('"').expect("quote")].to_string()
}

/// curl with the cookie jar `jar` (read and written); returns stdout.
pub fn curl_jar(jar: &Path, args: &[&str]) -> String {
    let jar = jar.display().to_string();
    let mut all = vec!["-s", "-b", &jar, "-c", &jar];
    all.extend_from_slice(args);
    String::from_utf8_lossy(&curl(&all, None).stdout).into_owned()
}

/// GET a page with the jar's cookies.
pub fn page(jar: &Path, url: &str) -> String {
    curl_jar(jar, &[url])
}

/// Log `user` in at the upload page at `base`; the session cookie lands in `jar`.
pub fn login(base: &str, jar: &Path, user: &str) {
    let status = login_status(base, jar, user);
    assert_eq!(status, "303", "upload page login of {user}");
}

/// The HTTP status the login form's POST of `user` (password `PASSWORD`) gets ("303" when
/// logged in); the session cookie lands in `jar`.
pub fn login_status(base: &str, jar: &Path, user: &str) -> String {
    let token = csrf(&page(jar, &format!("{base}/login")));
    curl_jar(
        jar,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data-urlencode",
            &format!("csrf={token}"),
            "--data-urlencode",
            &format!("username={user}"),
            "--data-urlencode",
            &format!("password={PASSWORD}"),
            &format!("{base}/login"),
        ],
    )
}

/// Upload `file` through the form (confirming `all`); returns the result page's URL.
pub fn send(base: &str, jar: &Path, iface: &str, env: &str, op: &str, file: &Path) -> String {
    let token = csrf(&page(jar, &format!("{base}/upload")));
    let location = curl_jar(
        jar,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{redirect_url}",
            "-F",
            &format!("csrf={token}"),
            "-F",
            &format!("interface={iface}"),
            "-F",
            &format!("environment={env}"),
            "-F",
            &format!("operation={op}"),
            "-F",
            "confirm_all=yes",
            "-F",
            &format!("file=@{}", file.display()),
            &format!("{base}/upload"),
        ],
    );
    assert!(
        location.contains("/batches/"),
        "the upload redirects to its result: {location:?}"
    );
    location
}

/// The text of the element with `id` on a page.
pub fn by_id(page: &str, id: &str) -> String {
    let at = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} on {page}"));
    let rest = &page[at..];
    let start = rest.find('>').expect("tag end") + 1;
    rest[start..start + rest[start..].find('<').expect("next tag")]
        .trim()
        .to_string()
}
