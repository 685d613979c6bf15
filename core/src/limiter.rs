//! Login rate limiting per user name, in core's memory.
//!
//! Every door's password check goes through `Core::authenticate`, so one limiter there covers
//! HTTP Basic, FTP, the password grant and the upload page. A user name gets at most
//! `max_failures` password checks that fail within a window that opens at its first failure;
//! after that, logins under that name are refused without checking the password until the
//! window closes. Unknown names are tracked alike, so probing for names costs the same as
//! guessing passwords. The clock is a parameter, so tests can move it.
//!
//! Memory is bounded: names are kept as their SHA-256 (a huge name costs 32 bytes), and past
//! `capacity` names the closed windows go first, then the oldest. Replicas each keep their own
//! counts; the limit is per process, which is enough to make online guessing slow.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

/// Names tracked at once before the oldest are forgotten.
pub const DEFAULT_CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Checks that failed (or are in flight) since `since`.
    failures: u32,
    /// When the window opened (the first failure), Unix seconds.
    since: i64,
}

/// Per-name failure counts over a fixed window.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: u32,
    window_secs: i64,
    capacity: usize,
    names: Mutex<HashMap<[u8; 32], Entry>>,
}

fn key(username: &str) -> [u8; 32] {
    Sha256::digest(username.as_bytes()).into()
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window_secs: u64, capacity: usize) -> LoginLimiter {
        LoginLimiter {
            max_failures,
            window_secs: i64::try_from(window_secs).unwrap_or(i64::MAX),
            capacity: capacity.max(1),
            names: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self, e: &Entry, now: i64) -> bool {
        now < e.since.saturating_add(self.window_secs)
    }

    /// Before a password check: `Err(seconds to wait)` when `username` is locked out.
    /// Otherwise the attempt is counted as a failure at once (undone by [`Self::succeeded`] or
    /// [`Self::forget_attempt`]), so concurrent guesses cannot all slip in before the first
    /// one's result is known.
    pub fn begin(&self, username: &str, now: i64) -> Result<(), u64> {
        // A poisoned lock only means another thread panicked mid-update of plain counters.
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        let k = key(username);
        if let Some(e) = names.get_mut(&k) {
            if self.open(e, now) {
                if e.failures >= self.max_failures {
                    let left = e.since.saturating_add(self.window_secs) - now;
                    return Err(u64::try_from(left).unwrap_or(1).max(1));
                }
                e.failures += 1;
                return Ok(());
            }
            *e = Entry {
                failures: 1,
                since: now,
            };
            return Ok(());
        }
        if names.len() >= self.capacity {
            self.make_room(&mut names, now);
        }
        names.insert(
            k,
            Entry {
                failures: 1,
                since: now,
            },
        );
        Ok(())
    }

    /// The password checked out: the name's count is cleared.
    pub fn succeeded(&self, username: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.remove(&key(username));
    }

    /// The check could not run (the store failed): the attempt does not count.
    pub fn forget_attempt(&self, username: &str) {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = names.get_mut(&key(username)) {
            e.failures = e.failures.saturating_sub(1);
        }
    }

    /// Names tracked now (tests, metrics).
    pub fn tracked(&self) -> usize {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn make_room(&self, names: &mut HashMap<[u8; 32], Entry>, now: i64) {
        names.retain(|_, e| self.open(e, now));
        if names.len() >= self.capacity {
            if let Some(oldest) = names.iter().min_by_key(|(_, e)| e.since).map(|(k, _)| *k) {
                names.remove(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;

    /// `n` failed checks of `name` at `now`.
    fn fail(l: &LoginLimiter, name: &str, n: u32, now: i64) {
        for i in 0..n {
            assert_eq!(l.begin(name, now), Ok(()), "attempt {}", i + 1);
        }
    }

    #[test]
    fn the_tenth_failure_is_checked_the_eleventh_attempt_is_refused() {
        let l = LoginLimiter::new(10, 300, 100);
        fail(&l, "alice", 9, T0);
        assert_eq!(l.begin("alice", T0 + 10), Ok(()), "10th attempt is checked");
        assert_eq!(l.begin("alice", T0 + 10), Err(290), "11th is refused");
        // Even the right password cannot be tried: success is never reached.
        assert_eq!(l.begin("alice", T0 + 299), Err(1));
        assert_eq!(
            l.begin("bob", T0 + 10),
            Ok(()),
            "other names are not affected"
        );
    }

    #[test]
    fn the_lock_ends_when_the_window_closes() {
        let l = LoginLimiter::new(10, 300, 100);
        fail(&l, "alice", 10, T0);
        assert!(l.begin("alice", T0 + 299).is_err());
        assert_eq!(l.begin("alice", T0 + 300), Ok(()), "window over");
        // A fresh window: nine more failures are allowed before the lock.
        fail(&l, "alice", 9, T0 + 301);
        assert!(l.begin("alice", T0 + 302).is_err());
    }

    #[test]
    fn failures_in_an_old_window_do_not_add_up() {
        let l = LoginLimiter::new(3, 60, 100);
        fail(&l, "alice", 2, T0);
        fail(&l, "alice", 3, T0 + 60);
        assert!(l.begin("alice", T0 + 61).is_err());
    }

    #[test]
    fn a_success_before_the_limit_clears_the_count() {
        let l = LoginLimiter::new(3, 300, 100);
        fail(&l, "alice", 2, T0);
        assert_eq!(l.begin("alice", T0), Ok(()));
        l.succeeded("alice");
        fail(&l, "alice", 3, T0 + 1);
        assert!(l.begin("alice", T0 + 1).is_err());
    }

    #[test]
    fn a_check_that_could_not_run_does_not_count() {
        let l = LoginLimiter::new(2, 300, 100);
        fail(&l, "alice", 2, T0);
        l.forget_attempt("alice");
        assert_eq!(l.begin("alice", T0), Ok(()));
        assert!(l.begin("alice", T0).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let l = LoginLimiter::new(1, 300, 50);
        for i in 0..200 {
            fail(&l, &format!("probe{i}"), 1, T0 + i);
        }
        assert!(l.tracked() <= 50, "{}", l.tracked());
        // The newest names are still locked; the oldest were forgotten.
        assert!(l.begin("probe199", T0 + 200).is_err());
        assert_eq!(l.begin("probe0", T0 + 200), Ok(()));
        // Closed windows go first, whatever their number.
        let l = LoginLimiter::new(1, 10, 5);
        fail(&l, "old", 1, T0);
        for i in 0..4 {
            fail(&l, &format!("n{i}"), 1, T0 + 20);
        }
        fail(&l, "new", 1, T0 + 21);
        assert_eq!(l.tracked(), 5);
        assert!(l.begin("n0", T0 + 21).is_err(), "an open window stayed");
        let huge = "x".repeat(1 << 20);
        fail(&l, &huge, 1, T0 + 21);
        assert!(l.begin(&huge, T0 + 21).is_err());
    }
}
