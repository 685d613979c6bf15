//! A batch's schedule (SPEC §7.2, seed 003): `instantExecute`, `executeTs`, `revertTs` on its
//! first sequence, and the windows they must fall in. Pure: the caller passes `now`.
//!
//! Decisions beyond the seed:
//! - `instantExecute` defaults to true when no `executeTs` is sent, false when one is.
//! - `instantExecute: true` with an `executeTs`: the seed says the system sets executeTs = now,
//!   so the sent time must still be a valid ISO-8601 instant but its window is not checked
//!   and it is not used: the batch runs when complete.
//! - `instantExecute: false` without `executeTs` has nothing to run at: `executeTs` is a
//!   `required field missing` (with 40009214 when a `revertTs` was sent, the seed's pairing
//!   rule).
//! - Windows are inclusive at both ends, measured from the moment the sequence is checked.
//!
//! Every problem is an envelope problem of E00V00 whose `Verify.code` carries the seed's number.

use wharf_proto::v1::{value::Kind, RowProblem, Value};

use crate::codes::{envelope_problem, kind, proposal, proposal_msg};
use crate::model::{Bounds, Schedule};

/// The envelope's names for the three fields.
pub const INSTANT_EXECUTE: &str = "instantExecute";
pub const EXECUTE_TS: &str = "executeTs";
pub const REVERT_TS: &str = "revertTs";

/// The schedule fields one sequence sent, each read (format checked) but not yet judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    pub instant: Option<bool>,
    pub execute: Option<i64>,
    pub revert: Option<i64>,
}

impl Sent {
    pub fn is_empty(&self) -> bool {
        *self == Sent::default()
    }
}

fn text_of(v: Option<&Value>) -> Result<Option<&str>, ()> {
    match v.and_then(|v| v.kind.as_ref()) {
        None | Some(Kind::Null(_)) => Ok(None),
        Some(Kind::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(Kind::Text(s)) => Ok(Some(s.trim())),
        Some(Kind::Number(_)) | Some(Kind::Boolean(_)) | Some(Kind::Json(_)) => Err(()),
    }
}

/// Read the three fields as sent. `instantExecute` is a boolean (a sheet's `true`/`false`
/// text too); a time is ISO-8601 with an offset. Absent, null and empty are "not sent".
pub fn read(
    instant: Option<&Value>,
    execute: Option<&Value>,
    revert: Option<&Value>,
) -> Result<Sent, Vec<RowProblem>> {
    let mut problems = Vec::new();
    let instant = match instant.and_then(|v| v.kind.as_ref()) {
        None | Some(Kind::Null(_)) => None,
        Some(Kind::Boolean(b)) => Some(*b),
        Some(Kind::Text(s)) if s.trim().is_empty() => None,
        Some(Kind::Text(s)) if s.trim().eq_ignore_ascii_case("true") => Some(true),
        Some(Kind::Text(s)) if s.trim().eq_ignore_ascii_case("false") => Some(false),
        Some(_) => {
            problems.push(envelope_problem(kind::TYPE, INSTANT_EXECUTE, ""));
            None
        }
    };
    let mut time = |v: Option<&Value>, field: &str| match text_of(v) {
        Ok(None) => None,
        Ok(Some(s)) => {
            let t = crate::timestamp::parse_iso8601(s);
            if t.is_none() {
                problems.push(envelope_problem(
                    kind::DATE,
                    field,
                    proposal::INVALID_ISO8601,
                ));
            }
            t
        }
        Err(()) => {
            problems.push(envelope_problem(
                kind::DATE,
                field,
                proposal::INVALID_ISO8601,
            ));
            None
        }
    };
    let execute = time(execute, EXECUTE_TS);
    let revert = time(revert, REVERT_TS);
    if problems.is_empty() {
        Ok(Sent {
            instant,
            execute,
            revert,
        })
    } else {
        Err(problems)
    }
}

/// Judge a first sequence's schedule against the windows at `now`.
pub fn resolve(sent: &Sent, now: i64, b: &Bounds) -> Result<Schedule, Vec<RowProblem>> {
    let instant = sent.instant.unwrap_or(sent.execute.is_none());
    let mut problems = Vec::new();
    let execute = if instant {
        now
    } else {
        let Some(t) = sent.execute else {
            let code = if sent.revert.is_some() {
                proposal::REVERT_WITHOUT_EXECUTE
            } else {
                ""
            };
            return Err(vec![envelope_problem(kind::REQUIRED, EXECUTE_TS, code)]);
        };
        if t < now.saturating_add(b.execute_min) || t > now.saturating_add(b.execute_max) {
            problems.push(envelope_problem(
                kind::NOT_ALLOWED,
                EXECUTE_TS,
                proposal::EXECUTE_WINDOW,
            ));
        }
        t
    };
    if let Some(r) = sent.revert {
        if r < now.saturating_add(b.revert_min) || r > now.saturating_add(b.revert_max) {
            problems.push(envelope_problem(
                kind::NOT_ALLOWED,
                REVERT_TS,
                proposal::REVERT_WINDOW,
            ));
        }
        if r < execute.saturating_add(b.revert_after_execute) {
            problems.push(envelope_problem(
                kind::NOT_ALLOWED,
                REVERT_TS,
                proposal::REVERT_TOO_SOON,
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Schedule {
        instant,
        execute_unix: (!instant).then_some(execute),
        revert_unix: sent.revert,
    })
}

/// A later sequence may leave the schedule out, but what it does send must be the batch's
/// (like operation and batch_size): each field that differs is `value not allowed`.
pub fn differences(sent: &Sent, kept: &Schedule) -> Vec<RowProblem> {
    let mut problems = Vec::new();
    if sent.instant.is_some_and(|i| i != kept.instant) {
        problems.push(envelope_problem(kind::NOT_ALLOWED, INSTANT_EXECUTE, ""));
    }
    // With instantExecute true an executeTs is not used (see the module doc), here as on
    // the first sequence.
    if let Some(t) = sent.execute {
        if sent.instant != Some(true) && (kept.instant || kept.execute_unix != Some(t)) {
            problems.push(envelope_problem(kind::NOT_ALLOWED, EXECUTE_TS, ""));
        }
    }
    if sent.revert.is_some() && sent.revert != kept.revert_unix {
        problems.push(envelope_problem(kind::NOT_ALLOWED, REVERT_TS, ""));
    }
    problems
}

/// The seed message of the first numbered problem, if any (for the answer's `msg`).
pub fn first_code_msg(problems: &[RowProblem]) -> Option<&'static str> {
    problems
        .iter()
        .flat_map(|p| p.verify.iter())
        .find(|v| v.code.starts_with('4'))
        .map(|v| proposal_msg(&v.code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DAY, HOUR};

    const NOW: i64 = 1_712_714_400; // 2024-04-10T02:00:00Z
    const MIN: i64 = 60;

    fn text(s: &str) -> Value {
        Value {
            kind: Some(Kind::Text(s.into())),
        }
    }
    fn boolean(b: bool) -> Value {
        Value {
            kind: Some(Kind::Boolean(b)),
        }
    }
    fn iso(unix: i64) -> Value {
        text(&wharf_proto::time::rfc3339(unix))
    }

    /// (type, field, code) of each problem.
    fn found(problems: &[RowProblem]) -> Vec<(String, String, String)> {
        problems
            .iter()
            .flat_map(|p| p.verify.iter())
            .map(|v| (v.r#type.clone(), v.fields.clone(), v.code.clone()))
            .collect()
    }

    fn judge(
        instant: Option<Value>,
        execute: Option<Value>,
        revert: Option<Value>,
    ) -> Result<Schedule, Vec<(String, String, String)>> {
        let sent =
            read(instant.as_ref(), execute.as_ref(), revert.as_ref()).map_err(|p| found(&p))?;
        resolve(&sent, NOW, &Bounds::default()).map_err(|p| found(&p))
    }

    fn one(ty: &str, field: &str, code: &str) -> Vec<(String, String, String)> {
        vec![(ty.into(), field.into(), code.into())]
    }

    #[test]
    fn nothing_sent_is_an_instant_batch() {
        assert_eq!(judge(None, None, None), Ok(Schedule::default()));
        let s = judge(Some(boolean(true)), None, None).unwrap();
        assert!(s.instant && s.execute_unix.is_none());
        // A sheet's empty cells are "not sent".
        assert_eq!(
            judge(Some(text("")), Some(text(" ")), None),
            Ok(Schedule::default())
        );
    }

    #[test]
    fn execute_window_is_two_hours_to_thirty_days_inclusive() {
        let at = |t: i64| judge(None, Some(iso(t)), None);
        let ok = at(NOW + 2 * HOUR).unwrap();
        assert_eq!((ok.instant, ok.execute_unix), (false, Some(NOW + 2 * HOUR)));
        assert!(at(NOW + 30 * DAY).is_ok());
        let window = one("value not allowed", "executeTs", "40009216");
        assert_eq!(at(NOW + 2 * HOUR - 1), Err(window.clone()));
        assert_eq!(at(NOW + 30 * DAY + 1), Err(window.clone()));
        assert_eq!(at(NOW - DAY), Err(window));
        // instantExecute false said aloud is the same.
        assert!(judge(Some(boolean(false)), Some(iso(NOW + 3 * HOUR)), None).is_ok());
        assert!(judge(Some(text("FALSE")), Some(iso(NOW + 3 * HOUR)), None).is_ok());
    }

    #[test]
    fn revert_window_is_three_hours_to_sixty_days_inclusive() {
        let instant_then = |t: i64| judge(Some(boolean(true)), None, Some(iso(t)));
        assert_eq!(
            instant_then(NOW + 3 * HOUR).unwrap().revert_unix,
            Some(NOW + 3 * HOUR)
        );
        assert!(instant_then(NOW + 60 * DAY).is_ok());
        let window = one("value not allowed", "revertTs", "40009217");
        assert_eq!(instant_then(NOW + 3 * HOUR - 1), Err(window.clone()));
        assert_eq!(instant_then(NOW + 60 * DAY + 1), Err(window));
        // Without instantExecute, a revertTs alone is an instant batch (the default).
        assert!(
            judge(None, None, Some(iso(NOW + 4 * HOUR)))
                .unwrap()
                .instant
        );
    }

    #[test]
    fn revert_at_least_fifteen_minutes_after_execute() {
        let exec = NOW + 10 * HOUR;
        let pair = |r: i64| judge(None, Some(iso(exec)), Some(iso(r)));
        let s = pair(exec + 15 * MIN).unwrap();
        assert_eq!(
            (s.instant, s.execute_unix, s.revert_unix),
            (false, Some(exec), Some(exec + 15 * MIN))
        );
        assert_eq!(
            pair(exec + 14 * MIN + 59),
            Err(one("value not allowed", "revertTs", "40009215"))
        );
        // Before the execute time, and outside its own window too: both are said.
        let both = pair(NOW + 2 * HOUR + 30 * MIN).unwrap_err();
        assert_eq!(
            both,
            vec![
                (
                    "value not allowed".into(),
                    "revertTs".into(),
                    "40009217".into()
                ),
                (
                    "value not allowed".into(),
                    "revertTs".into(),
                    "40009215".into()
                ),
            ]
        );
        // Execute and revert both out of their windows.
        let far = judge(None, Some(iso(NOW + 31 * DAY)), Some(iso(NOW + 61 * DAY))).unwrap_err();
        assert_eq!(far.len(), 2, "{far:?}");
    }

    #[test]
    fn revert_needs_an_execute_time_or_instant() {
        assert_eq!(
            judge(Some(boolean(false)), None, Some(iso(NOW + 4 * HOUR))),
            Err(one("required field missing", "executeTs", "40009214"))
        );
        assert_eq!(
            judge(Some(boolean(false)), None, None),
            Err(one("required field missing", "executeTs", ""))
        );
    }

    #[test]
    fn instant_with_an_execute_time_runs_now() {
        // The seed: instantExecute=true sets executeTs = now; the sent time is only read.
        let s = judge(Some(boolean(true)), Some(iso(NOW + 90 * DAY)), None).unwrap();
        assert!(s.instant && s.execute_unix.is_none());
        assert_eq!(
            judge(Some(boolean(true)), Some(text("tomorrow")), None),
            Err(one("invalid date", "executeTs", "40000011"))
        );
    }

    #[test]
    fn bad_forms_are_invalid_iso8601() {
        for bad in [
            text("2024-04-10"),
            text("2024-04-10T12:00:00"),
            text("2024-02-30T12:00:00Z"),
            text("garbage"),
            Value {
                kind: Some(Kind::Number("1712714400".into())),
            },
        ] {
            assert_eq!(
                judge(None, Some(bad.clone()), None),
                Err(one("invalid date", "executeTs", "40000011")),
                "{bad:?}"
            );
            assert_eq!(
                judge(Some(boolean(true)), None, Some(bad)),
                Err(one("invalid date", "revertTs", "40000011"))
            );
        }
        assert_eq!(
            judge(Some(text("yes")), None, None),
            Err(one("invalid type", "instantExecute", ""))
        );
        assert_eq!(
            judge(
                Some(Value {
                    kind: Some(Kind::Number("1".into()))
                }),
                None,
                None
            ),
            Err(one("invalid type", "instantExecute", ""))
        );
    }

    #[test]
    fn offsets_and_z_name_the_same_instant() {
        let exec = NOW + 5 * HOUR; // 2024-04-10T07:00:00Z
        for form in [
            "2024-04-10T07:00:00Z",
            "2024-04-10T15:00:00+08:00",
            "2024-04-10T02:00:00-05:00",
        ] {
            let s = judge(None, Some(text(form)), None).unwrap();
            assert_eq!(s.execute_unix, Some(exec), "{form}");
        }
        // 2024-04-10T05:59:59+02:00 is 03:59:59Z: one second short of now + 2 h.
        assert_eq!(
            judge(None, Some(text("2024-04-10T05:59:59+02:00")), None),
            Err(one("value not allowed", "executeTs", "40009216"))
        );
    }

    #[test]
    fn min_lead_shrinks_only_the_minima() {
        let b = Bounds::with_min_lead(5);
        let sent = Sent {
            instant: None,
            execute: Some(NOW + 5),
            revert: Some(NOW + 10),
        };
        assert!(resolve(&sent, NOW, &b).is_ok());
        let late = Sent {
            execute: Some(NOW + 31 * DAY),
            ..sent
        };
        assert!(resolve(&late, NOW, &b).is_err());
        assert_eq!(b.revert_max, 60 * DAY);
    }

    #[test]
    fn later_sequences_repeat_or_omit_the_schedule() {
        let kept = Schedule {
            instant: false,
            execute_unix: Some(NOW + 5 * HOUR),
            revert_unix: Some(NOW + 9 * HOUR),
        };
        assert!(differences(&Sent::default(), &kept).is_empty());
        let same = Sent {
            instant: Some(false),
            execute: Some(NOW + 5 * HOUR),
            revert: Some(NOW + 9 * HOUR),
        };
        assert!(differences(&same, &kept).is_empty());
        let other = Sent {
            instant: Some(true),
            execute: None,
            revert: Some(NOW + 10 * HOUR),
        };
        let fields: Vec<String> = found(&differences(&other, &kept))
            .into_iter()
            .map(|f| f.1)
            .collect();
        assert_eq!(fields, ["instantExecute", "revertTs"]);
        let moved = Sent {
            execute: Some(NOW + 6 * HOUR),
            ..Sent::default()
        };
        assert_eq!(
            found(&differences(&moved, &kept)),
            one("value not allowed", "executeTs", "")
        );
        // An instant batch: a later executeTs alone means a scheduled batch, which it is not.
        assert_eq!(differences(&moved, &Schedule::default()).len(), 1);
    }
}
