//! The one clock of core. Validation windows, token expiry and the scheduler all ask it, so a
//! test can move time (a schedule two hours out) without waiting or sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system's wall clock.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The clock a real process uses.
pub fn system() -> Clock {
    Arc::new(now_unix)
}

/// A clock that stands still until told to move (tests). Clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn at(unix: i64) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(unix)))
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn set(&self, unix: i64) {
        self.0.store(unix, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
    /// This clock as core's [`Clock`].
    pub fn clock(&self) -> Clock {
        let t = self.0.clone();
        Arc::new(move || t.load(Ordering::SeqCst))
    }
}

/// A length of time as an operator writes it: a whole number and a unit, `s`, `m`, `h` or
/// `d` (`90s`, `15m`, `24h`, `7d`), or `0`; in seconds. `None`: not that (or too long). The
/// CLI's `--grace` and the audit filters' ages both read it.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    if text == "0" {
        return Some(0);
    }
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let number = text.get(..text.len() - 1)?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse::<u64>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Some(0));
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("24h"), Some(86_400));
        assert_eq!(parse_duration(" 7d "), Some(7 * 86_400));
        for bad in [
            "",
            "h",
            "45",
            "1.5h",
            "-1h",
            "+1h",
            "1w",
            "24 h",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
