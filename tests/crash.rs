//! Crash safety: `wharf serve` killed with SIGKILL at random points of a 40-sequence batch —
//! while it stages, while it applies, while it compacts — 10 rounds on each store. After each
//! restart the data is wholly before or wholly after the batch, every sequence answered `0`
//! is still consumed (a resend answers `E00A00`), and sending every sequence again completes
//! the batch exactly once.
//!
//! The kill points are random (a seed printed with every round; `WHARF_CRASH_SEED` replays a
//! run), so every round kills somewhere else.

mod util;

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use util::data::{bom_row_with, envelope, export};
use util::http::{client_token, request, try_request, Auth, Reply};
use util::{installation, Backend, Server, Wharf};

const SEQS: usize = 40;
const ROWS: usize = 100;
const ROUNDS: usize = 10;

/// A small deterministic generator: the seed is printed, so a failing round can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Where a round kills the server.
#[derive(Debug, Clone, Copy)]
enum Point {
    /// After some sequences were answered, with the next one in flight.
    Staging,
    /// While the last sequence (the one that applies the batch) is in flight.
    Apply,
    /// Just after a restart, while housekeeping compacts what the batch superseded.
    Compaction,
}

fn url(w: &Wharf) -> String {
    format!("{}/v1.0/scc/data/sync/t1/bom", w.http_url())
}

/// Sequence `s` of round `r`'s batch: every row of the data set, owned by `r{r}`.
fn body(r: usize, s: usize) -> String {
    let owner = format!("r{r}");
    let rows = (0..ROWS)
        .map(|i| bom_row_with(&format!("K{:05}", s * ROWS + i), &[("owner", &owner)]))
        .collect();
    envelope(&format!("B{r}"), SEQS * ROWS, &format!("{s}"), rows)
}

/// Even rounds replace the whole set (`all`, PATCH), odd ones update every key (PUT).
fn method(r: usize) -> &'static str {
    if r.is_multiple_of(2) {
        "PATCH"
    } else {
        "PUT"
    }
}

/// Sequence `s` of round `r` sent; `None` when the connection broke (the server died).
fn post(w: &Wharf, token: &str, r: usize, s: usize) -> Option<Value> {
    let auth = Auth::Bearer(token);
    let body = body(r, s);
    let reply = try_request(
        method(r),
        &url(w),
        &auth,
        Some(("application/json", body.as_bytes())),
        &[],
    )?;
    Some(reply.json())
}

/// The owner of every exported row, checked to be one batch's whole set.
fn state(w: &Wharf, partner: &str, seed: u64, round: usize) -> String {
    let rows = export(w, partner, "t1/bom", None);
    assert_eq!(
        rows.len(),
        SEQS * ROWS,
        "seed {seed}, round {round}: a partial set after the restart"
    );
    let owner = rows[0]["owner"].as_str().expect("owner").to_string();
    assert!(
        rows.iter().all(|r| r["owner"] == owner.as_str()),
        "seed {seed}, round {round}: two batches mixed after the restart"
    );
    owner
}

fn kill(server: &mut Server) {
    server.child.kill().expect("SIGKILL wharf serve");
    server.child.wait().expect("wait");
}

fn rounds(backend: Backend) {
    let seed = std::env::var("WHARF_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("crash: {backend:?}, seed {seed} (WHARF_CRASH_SEED replays it)");
    let mut rng = Rng(seed);
    let (w, partner, _user) = installation(backend);
    let mut server = w.serve();
    let mut token = client_token(&w.http_url(), &partner);
    // Round 0's batch is sent whole: the data every later round replaces.
    for s in 0..SEQS {
        let a = post(&w, &token, 0, s).expect("the first batch is sent");
        assert_eq!(a["code"], "0", "{a}");
    }
    assert_eq!(state(&w, &partner, seed, 0), "r0");
    for round in 1..=ROUNDS {
        let point = match round % 3 {
            0 => Point::Compaction,
            1 => Point::Staging,
            _ => Point::Apply,
        };
        let before = format!("r{}", round - 1);
        let after = format!("r{round}");
        // Sequences answered `0` before the kill.
        let mut answered = Vec::new();
        let last = match point {
            Point::Staging => 1 + rng.below(SEQS as u64 - 2) as usize,
            Point::Apply | Point::Compaction => SEQS - 1,
        };
        for s in 0..last {
            let a = post(&w, &token, round, s).expect("sent before the kill");
            assert_eq!(a["code"], "0", "round {round}: {a}");
            answered.push(s);
        }
        match point {
            Point::Staging | Point::Apply => {
                // The next sequence in flight, the kill a random moment into it.
                let (tx, rx) = mpsc::channel();
                let (w2, token2) = (&w, token.clone());
                thread::scope(|scope| {
                    scope.spawn(move || {
                        let _ = tx.send(post(w2, &token2, round, last));
                    });
                    thread::sleep(Duration::from_millis(rng.below(120)));
                    kill(&mut server);
                });
                if let Ok(Some(a)) = rx.recv() {
                    if a["code"] == "0" {
                        answered.push(last);
                    }
                }
            }
            Point::Compaction => {
                let a = post(&w, &token, round, last).expect("the last sequence");
                assert_eq!(a["code"], "0", "round {round}: {a}");
                answered.push(last);
                // Housekeeping's first round (compaction among it) starts with the server.
                server.stop("wharf serve before the compaction round");
                server = w.serve();
                thread::sleep(Duration::from_millis(rng.below(150)));
                kill(&mut server);
            }
        }
        server = w.serve();
        token = client_token(&w.http_url(), &partner);
        let now = state(&w, &partner, seed, round);
        eprintln!(
            "crash: {backend:?} round {round}: killed during {point:?} with {} sequences \
             answered; after the restart the data is {}",
            answered.len(),
            if now == after {
                "after the batch"
            } else {
                "before the batch"
            }
        );
        assert!(
            now == before || now == after,
            "seed {seed}, round {round}: the data is {now}'s, neither {before} nor {after}"
        );
        if answered.len() == SEQS {
            assert_eq!(
                now, after,
                "seed {seed}, round {round}: answered, so applied"
            );
        }
        for &s in &answered {
            let a = post(&w, &token, round, s).expect("a resend");
            assert_eq!(
                a["code"], "E00A00",
                "seed {seed}, round {round}: sequence {s} was answered 0, so it is consumed: {a}"
            );
        }
        for s in 0..SEQS {
            let a = post(&w, &token, round, s).expect("the rest");
            assert!(
                a["code"] == "0" || a["code"] == "E00A00",
                "seed {seed}, round {round}: sequence {s}: {a}"
            );
        }
        assert_eq!(state(&w, &partner, seed, round), after, "seed {seed}");
        let batch = batch_view(&w, &token, round);
        assert_eq!(
            batch["result"]["state"], "applied",
            "seed {seed}, round {round}: {batch}"
        );
    }
    server.stop("wharf serve");
}

/// The batch as the partner API shows it.
fn batch_view(w: &Wharf, token: &str, round: usize) -> Value {
    let r: Reply = request(
        "GET",
        &format!("{}/batches/B{round}", url(w)),
        &Auth::Bearer(token),
        None,
        &[],
    );
    r.expect(200, "0")
}

#[test]
fn sigkill_while_staging_applying_or_compacting_sqlite() {
    rounds(Backend::Sqlite);
}

#[test]
fn sigkill_while_staging_applying_or_compacting_postgres() {
    rounds(Backend::Postgres);
}
