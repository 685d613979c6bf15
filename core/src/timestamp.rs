//! Reading ISO-8601 date-times with an offset (a schedule's `executeTs` / `revertTs`) as unix
//! seconds. No time crate: the calendar arithmetic is the proleptic Gregorian day count, a few
//! lines in `wharf_proto::time`, shared with every door. Writing times back (RFC 3339, UTC) is `wharf_proto::time::rfc3339`, shared by every
//! door.

use wharf_proto::time::{days_from_civil, days_in_month};

/// Exactly `n` ASCII digits at `s[at..]`, as a number.
fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    part.iter()
        .try_fold(0u32, |acc, b| Some(acc * 10 + u32::from(b - b'0')))
}

/// Unix seconds of an ISO-8601 extended date-time that names its offset:
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, e.g. `2024-04-10T02:00:00Z` or
/// `2024-04-10T10:00:00+08:00`. A fraction is dropped (schedules are to the second). No
/// offset, a date that is not on the calendar, or anything else is `None`: a schedule's time
/// must not depend on the server's time zone.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let s = text.as_bytes();
    let sep = |at: usize, c: u8| s.get(at) == Some(&c);
    let year = digits(s, 0, 4)?;
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    let hour = digits(s, 11, 2)?;
    let minute = digits(s, 14, 2)?;
    let second = digits(s, 17, 2)?;
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || days_in_month(year, month).is_none_or(|n| day > n)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut at = 19;
    if sep(at, b'.') {
        at += 1;
        let start = at;
        while s.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return None;
        }
    }
    let offset = match s.get(at..)? {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let (h, m) = (digits(rest, 0, 2)?, digits(rest, 3, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if *sign == b'-' {
                -secs
            } else {
                secs
            }
        }
        _ => return None,
    };
    let local =
        days_from_civil(year, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some(local - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_proto::time::rfc3339 as format_rfc3339;

    #[test]
    fn reads_offsets_and_z() {
        let utc = parse_iso8601("2024-04-10T02:00:00Z").unwrap();
        assert_eq!(utc, 1_712_714_400);
        assert_eq!(parse_iso8601("2024-04-10T10:00:00+08:00"), Some(utc));
        assert_eq!(parse_iso8601("2024-04-09T21:30:00-04:30"), Some(utc));
        assert_eq!(parse_iso8601("2024-04-10T02:00:00.999Z"), Some(utc));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("2024-02-29T00:00:00Z"), Some(1_709_164_800));
    }

    #[test]
    fn refuses_what_is_not_an_instant() {
        for bad in [
            "",
            "garbage",
            "2024-04-10",
            "2024-04-10T02:00:00",
            "2024-04-10 02:00:00Z",
            "2024-04-10T02:00Z",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-04-10T24:00:00Z",
            "2024-04-10T02:60:00Z",
            "2024-04-10T02:00:60Z",
            "2024-04-10T02:00:00+0800",
            "2024-04-10T02:00:00+24:00",
            "2024-04-10T02:00:00.Z",
            "2024-04-10T02:00:00Zjunk",
            "24-04-10T02:00:00Z",
            "2024-4-10T02:00:00Z",
            "２０２４-04-10T02:00:00Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trips_with_the_shared_formatter() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_712_714_400), "2024-04-10T02:00:00Z");
        assert_eq!(
            format_rfc3339(1_709_164_800 + 86_399),
            "2024-02-29T23:59:59Z"
        );
        for t in [0, 951_782_400, 1_709_164_800, 4_102_444_799, 1_234_567_890] {
            assert_eq!(parse_iso8601(&format_rfc3339(t)), Some(t));
        }
    }
}
