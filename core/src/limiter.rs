//! Login rate limiting per user name, in core's memory.
//!
//! Every door's password check goes through `Core::authenticate`, so one limiter there covers
//! HTTP Basic, FTP, the password grant and the upload page. A user name gets at most
//! `max_failures` wrong passwords within a window that opens at its first failure; after
//! that, logins under that name are refused without checking the password until the window
//! closes. Unknown names are tracked alike, so probing for names costs the same as guessing
//! passwords. The clock is a parameter, so tests can move it.
//!
//! Only a finished check that found a wrong password counts. A success does not clear the
//! count: the failures may have come from somebody else, and a success would otherwise let a
//! guesser who interleaves them with the owner's own logins (HTTP Basic logs in on every
//! call) go on for ever. Checks in flight are bounded by what is left of the budget: with
//! `n` failures counted, at most `max_failures - n` checks of one name run at once, and
//! further ones wait for a result instead of being refused — so parallel correct logins (MFT
//! tools and API clients open several connections) all get in, while parallel guesses still
//! get no more than `max_failures` checks.
//!
//! Memory is bounded: names are kept as their SHA-256 (a huge name costs 32 bytes), and past
//! `capacity` names the closed windows go first, then the oldest. Replicas each keep their own
//! counts; the limit is per process, which is enough to make online guessing slow.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

/// Names tracked at once before the oldest are forgotten.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Longest a login waits for other checks of its name before it is refused as busy.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// Why a login may not be checked now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many wrong passwords: locked for this many seconds more.
    Locked { retry_after_secs: u64 },
    /// Other checks of the name held its budget for [`MAX_WAIT`]: nothing is wrong with the
    /// name, try again.
    Busy,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Wrong passwords since `since`.
    failures: u32,
    /// When the window opened (the first failure), Unix seconds.
    since: i64,
    /// Checks running now.
    in_flight: u32,
}

/// Per-name failure counts over a fixed window.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: u32,
    window_secs: i64,
    capacity: usize,
    names: Mutex<HashMap<[u8; 32], Entry>>,
    /// Woken whenever a check ends, so waiting logins look again.
    ended: Notify,
    max_wait: Duration,
}

fn key(username: &str) -> [u8; 32] {
    Sha256::digest(username.as_bytes()).into()
}

/// What [`LoginLimiter::try_begin`] decided.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    Go,
    Wait,
    Refused(u64),
}

/// The right to run one password check; say how it ended with [`Attempt::failed`]. Dropped
/// without that (a success, or a check that could not run), nothing is counted.
#[derive(Debug)]
pub struct Attempt<'a> {
    limiter: &'a LoginLimiter,
    key: [u8; 32],
    wrong_at: Option<i64>,
}

impl Attempt<'_> {
    /// The password was wrong (at `now`): it counts.
    pub fn failed(mut self, now: i64) {
        self.wrong_at = Some(now);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.limiter.end(self.key, self.wrong_at);
    }
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window_secs: u64, capacity: usize) -> LoginLimiter {
        LoginLimiter {
            max_failures,
            window_secs: i64::try_from(window_secs).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
            names: Mutex::new(HashMap::new()),
            ended: Notify::new(),
            max_wait: MAX_WAIT,
        }
    }

    /// The same limiter waiting at most `max_wait` for a busy name (tests).
    pub fn with_max_wait(mut self, max_wait: Duration) -> LoginLimiter {
        self.max_wait = max_wait;
        self
    }

    fn open(&self, e: &Entry, now: i64) -> bool {
        e.failures > 0 && now < e.since.saturating_add(self.window_secs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A poisoned lock only means another thread panicked mid-update of plain counters.
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before a password check: an [`Attempt`] to run it, or why not: `username` is locked
    /// out, or its checks stayed busy for [`MAX_WAIT`]. `now` is read again after every wait.
    pub async fn begin(
        &self,
        username: &str,
        now: impl Fn() -> i64,
    ) -> Result<Attempt<'_>, Refused> {
        let k = key(username);
        let deadline = tokio::time::Instant::now() + self.max_wait;
        loop {
            // Registered before looking, so an end between the look and the wait is not missed.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            match self.try_begin(k, now()) {
                Turn::Go => {
                    return Ok(Attempt {
                        limiter: self,
                        key: k,
                        wrong_at: None,
                    })
                }
                Turn::Refused(secs) => {
                    return Err(Refused::Locked {
                        retry_after_secs: secs,
                    })
                }
                Turn::Wait => {
                    if tokio::time::timeout_at(deadline, ended).await.is_err() {
                        return Err(Refused::Busy);
                    }
                }
            }
        }
    }

    fn try_begin(&self, k: [u8; 32], now: i64) -> Turn {
        let mut names = self.lock();
        if !names.contains_key(&k) && names.len() >= self.capacity {
            self.make_room(&mut names, now);
        }
        let e = names.entry(k).or_default();
        if e.failures > 0 && !self.open(e, now) {
            // The window closed: a fresh start.
            e.failures = 0;
        }
        if e.failures >= self.max_failures {
            let left = e.since.saturating_add(self.window_secs) - now;
            return Turn::Refused(u64::try_from(left).unwrap_or(1).max(1));
        }
        if e.in_flight >= self.max_failures - e.failures {
            return Turn::Wait;
        }
        e.in_flight += 1;
        Turn::Go
    }

    fn end(&self, k: [u8; 32], wrong_at: Option<i64>) {
        {
            let mut names = self.lock();
            if let Some(e) = names.get_mut(&k) {
                e.in_flight = e.in_flight.saturating_sub(1);
                if let Some(now) = wrong_at {
                    if !self.open(e, now) {
                        e.failures = 0;
                        e.since = now;
                    }
                    e.failures += 1;
                }
                if e.failures == 0 && e.in_flight == 0 {
                    names.remove(&k);
                }
            }
        }
        self.ended.notify_waiters();
    }

    /// Names tracked now (tests, metrics).
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }

    fn make_room(&self, names: &mut HashMap<[u8; 32], Entry>, now: i64) {
        names.retain(|_, e| e.in_flight > 0 || self.open(e, now));
        if names.len() >= self.capacity {
            let oldest = names
                .iter()
                .filter(|(_, e)| e.in_flight == 0)
                .min_by_key(|(_, e)| e.since)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                names.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    /// `n` checks of `name` at `now` that found a wrong password.
    async fn fail(l: &LoginLimiter, name: &str, n: u32, now: i64) {
        for i in 0..n {
            match l.begin(name, || now).await {
                Ok(a) => a.failed(now),
                Err(r) => panic!("attempt {} refused ({r:?})", i + 1),
            }
        }
    }

    /// Whether a login of `name` at `now` may be checked (the check then succeeds), else
    /// the seconds it is locked for.
    async fn may(l: &LoginLimiter, name: &str, now: i64) -> Result<(), u64> {
        match l.begin(name, || now).await {
            Ok(_) => Ok(()),
            Err(Refused::Locked { retry_after_secs }) => Err(retry_after_secs),
            Err(Refused::Busy) => panic!("{name} busy"),
        }
    }

    #[tokio::test]
    async fn the_tenth_failure_is_checked_the_eleventh_attempt_is_refused() {
        let l = LoginLimiter::new(10, 300, 100);
        fail(&l, "alice", 9, T0).await;
        fail(&l, "alice", 1, T0 + 10).await;
        assert_eq!(may(&l, "alice", T0 + 10).await, Err(290), "11th is refused");
        // Even the right password cannot be tried: success is never reached.
        assert_eq!(may(&l, "alice", T0 + 299).await, Err(1));
        assert_eq!(
            may(&l, "bob", T0 + 10).await,
            Ok(()),
            "other names are not affected"
        );
    }

    #[tokio::test]
    async fn the_lock_ends_when_the_window_closes() {
        let l = LoginLimiter::new(10, 300, 100);
        fail(&l, "alice", 10, T0).await;
        assert!(may(&l, "alice", T0 + 299).await.is_err());
        assert_eq!(may(&l, "alice", T0 + 300).await, Ok(()), "window over");
        // A fresh window: ten more failures are allowed before the lock.
        fail(&l, "alice", 10, T0 + 301).await;
        assert!(may(&l, "alice", T0 + 302).await.is_err());
    }

    #[tokio::test]
    async fn failures_in_an_old_window_do_not_add_up() {
        let l = LoginLimiter::new(3, 60, 100);
        fail(&l, "alice", 2, T0).await;
        fail(&l, "alice", 3, T0 + 60).await;
        assert!(may(&l, "alice", T0 + 61).await.is_err());
    }

    #[tokio::test]
    async fn a_success_does_not_wipe_the_failures() {
        let l = LoginLimiter::new(3, 300, 100);
        fail(&l, "alice", 2, T0).await;
        assert_eq!(may(&l, "alice", T0).await, Ok(()), "the owner logs in");
        fail(&l, "alice", 1, T0 + 1).await;
        assert!(
            may(&l, "alice", T0 + 1).await.is_err(),
            "three wrong in the window"
        );
    }

    #[tokio::test]
    async fn a_check_that_could_not_run_does_not_count() {
        let l = LoginLimiter::new(2, 300, 100);
        fail(&l, "alice", 1, T0).await;
        // Dropped without `failed`: a store error, not a wrong password.
        drop(l.begin("alice", || T0).await.unwrap());
        fail(&l, "alice", 1, T0).await;
        assert!(may(&l, "alice", T0).await.is_err());
    }

    #[tokio::test]
    async fn parallel_checks_wait_for_the_budget_instead_of_being_refused() {
        let l = std::sync::Arc::new(LoginLimiter::new(3, 300, 100));
        // Three checks hold the whole budget of "alice".
        let held: Vec<_> = {
            let mut v = Vec::new();
            for _ in 0..3 {
                v.push(l.begin("alice", || T0).await.unwrap());
            }
            v
        };
        // A fourth waits (it is neither refused nor let in).
        let waiting = {
            let l = l.clone();
            tokio::spawn(async move { l.begin("alice", || T0).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the fourth check must wait");
        // The three succeed: the fourth goes in.
        drop(held);
        assert_eq!(waiting.await.unwrap(), Ok(()));
        assert_eq!(l.tracked(), 0, "nothing left to remember");
    }

    #[tokio::test]
    async fn a_login_that_waited_too_long_is_busy_not_locked() {
        let l = LoginLimiter::new(1, 300, 100).with_max_wait(Duration::from_millis(50));
        let held = l.begin("alice", || T0).await.unwrap();
        assert_eq!(l.begin("alice", || T0).await.map(drop), Err(Refused::Busy));
        drop(held);
        assert_eq!(may(&l, "alice", T0).await, Ok(()), "nothing was counted");
    }

    #[tokio::test]
    async fn parallel_guesses_get_no_more_checks_than_the_limit() {
        let l = std::sync::Arc::new(LoginLimiter::new(3, 300, 100));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let l = l.clone();
            tasks.push(tokio::spawn(async move {
                match l.begin("alice", || T0).await {
                    Ok(a) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        a.failed(T0);
                        true
                    }
                    Err(_) => false,
                }
            }));
        }
        let mut checked = 0;
        for t in tasks {
            checked += usize::from(t.await.unwrap());
        }
        assert_eq!(checked, 3);
    }

    #[tokio::test]
    async fn memory_is_bounded() {
        let l = LoginLimiter::new(1, 300, 50);
        for i in 0..200 {
            fail(&l, &format!("probe{i}"), 1, T0 + i).await;
        }
        assert!(l.tracked() <= 50, "{}", l.tracked());
        // The newest names are still locked; the oldest were forgotten.
        assert!(may(&l, "probe199", T0 + 200).await.is_err());
        assert_eq!(may(&l, "probe0", T0 + 200).await, Ok(()));
        // Closed windows go first, whatever their number.
        let l = LoginLimiter::new(1, 10, 5);
        fail(&l, "old", 1, T0).await;
        for i in 0..4 {
            fail(&l, &format!("n{i}"), 1, T0 + 20).await;
        }
        fail(&l, "new", 1, T0 + 21).await;
        assert_eq!(l.tracked(), 5);
        assert!(
            may(&l, "n0", T0 + 21).await.is_err(),
            "an open window stayed"
        );
        let huge = "x".repeat(1 << 20);
        fail(&l, &huge, 1, T0 + 21).await;
        assert!(may(&l, &huge, T0 + 21).await.is_err());
    }
}
