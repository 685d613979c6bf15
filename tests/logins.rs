//! Logins under load and under guessing, through every door against the real binary: parallel
//! correct logins of one user all get in (MFT tools and API clients open several connections
//! at once), while wrong passwords still lock the name — also when the owner's own successful
//! logins come in between.

mod util;

use std::path::PathBuf;
use std::thread;

use util::http::{request, token_request, Auth};
use util::{add_partner, add_user, Backend, Wharf, PASSWORD, SECRET};

const PARALLEL: usize = 50;
const BOM: &str = "/v1.0/scc/data/sync/t1/bom";

/// Run `f(i)` on `PARALLEL` threads at once; every result, in order.
fn all_at_once<T: Send + 'static>(f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let f = std::sync::Arc::new(f);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(PARALLEL));
    let handles: Vec<_> = (0..PARALLEL)
        .map(|i| {
            let (f, barrier) = (f.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                f(i)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("a login thread"))
        .collect()
}

/// The HTTP status of one HTTP Basic call of `user` (404: logged in, the batch is unknown).
fn basic(base: &str, user: &str, password: &str) -> u16 {
    request(
        "GET",
        &format!("{base}{BOM}/batches/NO-SUCH"),
        &Auth::Basic(user, password),
        None,
        &[],
    )
    .status
}

#[test]
fn parallel_correct_logins_all_get_in_on_every_door() {
    let w = Wharf::new(Backend::Sqlite);
    let partner = add_partner(&w, None);
    let user = add_user(&w, &partner);
    let _server = w.serve();
    let base = w.http_url();

    let (b, u) = (base.clone(), user.clone());
    let statuses = all_at_once(move |_| basic(&b, &u, PASSWORD));
    assert!(
        statuses.iter().all(|s| *s == 404),
        "HTTP Basic: {statuses:?}"
    );

    let (b, u, p) = (base.clone(), user.clone(), partner.clone());
    let statuses = all_at_once(move |_| {
        token_request(
            &b,
            &format!(
                "grant_type=password&client_id={p}&client_secret={SECRET}&username={u}&password={PASSWORD}"
            ),
            None,
        )
        .status
    });
    assert!(
        statuses.iter().all(|s| *s == 200),
        "token endpoint: {statuses:?}"
    );

    let port = w.ftp_port;
    let u = user.clone();
    let replies = all_at_once(move |_| {
        let mut ftp = suppaftp::FtpStream::connect(("127.0.0.1", port)).expect("connect");
        let r = ftp
            .login(u.as_str(), PASSWORD)
            .map_err(|e| format!("{e:?}"));
        let _ = ftp.quit();
        r
    });
    let refused: Vec<_> = replies.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        refused.is_empty(),
        "FTP: {} refused: {refused:?}",
        refused.len()
    );

    let upload = w.upload_url();
    let dir = std::env::temp_dir().join(util::unique("jars"));
    std::fs::create_dir_all(&dir).expect("jar dir");
    let (d, u) = (dir.clone(), user.clone());
    let statuses = all_at_once(move |i| {
        let jar: PathBuf = d.join(format!("{i}.jar"));
        util::upload::login_status(&upload, &jar, &u)
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        statuses.iter().all(|s| s == "303"),
        "upload page: {statuses:?}"
    );
}

#[test]
fn wrong_passwords_still_lock_the_name() {
    let mut w = Wharf::new(Backend::Sqlite);
    // Ten failed logins ban the name and the address (the defender's threshold).
    w.extra_env = vec![("WHARF_DEFENDER_THRESHOLD".into(), "10".into())];
    let partner = add_partner(&w, None);
    let _server = w.serve();
    let base = w.http_url();
    let unlock_address = || w.ok(&["user", "unlock", "--address", "127.0.0.1"], "");

    // Eleven wrong: ten are checked (401), the eleventh is refused unchecked (429), and so is
    // the right password after them.
    let user = add_user(&w, &partner);
    for i in 0..10 {
        assert_eq!(
            basic(&base, &user, "wrong-password"),
            401,
            "wrong #{}",
            i + 1
        );
    }
    assert_eq!(basic(&base, &user, "wrong-password"), 429, "wrong #11");
    assert_eq!(
        basic(&base, &user, PASSWORD),
        429,
        "the right one after them"
    );
    // The address is banned with the name: lifting it leaves the name banned.
    unlock_address();
    assert_eq!(basic(&base, &user, PASSWORD), 429, "the name stays banned");

    // The owner's successes in between do not wipe the guesses.
    let user = add_user(&w, &partner);
    for i in 0..10 {
        assert_eq!(basic(&base, &user, PASSWORD), 404, "owner #{}", i + 1);
        assert_eq!(
            basic(&base, &user, "wrong-password"),
            401,
            "guess #{}",
            i + 1
        );
    }
    assert_eq!(basic(&base, &user, "wrong-password"), 429, "guess #11");
    assert_eq!(
        basic(&base, &user, PASSWORD),
        429,
        "locked for the owner too"
    );
    unlock_address();

    // Parallel guesses get ten answers at most: checks that were in flight when the ban began
    // answer with the ban.
    let user = add_user(&w, &partner);
    let (b, u) = (base.clone(), user.clone());
    let statuses = all_at_once(move |_| basic(&b, &u, "wrong-password"));
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (10, PARALLEL - 10), "{statuses:?}");
}
