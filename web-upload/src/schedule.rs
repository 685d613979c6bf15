//! The upload form's schedule (SPEC §7.2): "apply now" or "apply at", and an optional revert
//! time, turned into the batch's `instantExecute` / `executeTs` / `revertTs` for core, which
//! judges them. A browser's `datetime-local` value has no offset; the page's script adds the
//! browser's offset in minutes (UTC without JavaScript), and this module writes ISO-8601 with
//! that offset. Anything not in `datetime-local` shape goes to core as typed, so core answers it.

use wharf_proto::v1::{self as pb, value::Kind, Value};

use crate::i18n::{t, tf};
use crate::pages::{Action, Moment, Plan};

/// What the form's schedule inputs held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScheduleForm {
    /// `now` (the default) or `at`.
    pub(crate) when: String,
    /// `datetime-local` values, `YYYY-MM-DDTHH:MM[:SS]`.
    pub(crate) execute_at: String,
    pub(crate) revert_at: String,
    /// Minutes east of UTC of the browser that filled the form.
    pub(crate) tz_offset_minutes: String,
}

/// The three envelope fields, absent when the form asked for nothing special.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Schedule {
    pub(crate) instant_execute: Option<Value>,
    pub(crate) execute_ts: Option<Value>,
    pub(crate) revert_ts: Option<Value>,
}

fn text(s: String) -> Option<Value> {
    Some(Value {
        kind: Some(Kind::Text(s)),
    })
}

/// `2026-11-23T12:00` with `+480` → `2026-11-23T12:00:00+08:00`.
fn iso(local: &str, offset_minutes: i32) -> String {
    let shaped = local.len() >= 16
        && local.is_char_boundary(16)
        && local[..16].bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 => b == b':',
            _ => b.is_ascii_digit(),
        })
        && (local.len() == 16
            || (local.len() == 19
                && local.as_bytes()[16] == b':'
                && local[17..].bytes().all(|b| b.is_ascii_digit())));
    if !shaped {
        return local.to_string();
    }
    let seconds = if local.len() == 19 { "" } else { ":00" };
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.unsigned_abs();
    format!("{local}{seconds}{sign}{:02}:{:02}", m / 60, m % 60)
}

impl ScheduleForm {
    /// Whether the form asks for anything but "apply now": an apply time or a revert.
    pub(crate) fn is_planned(&self) -> bool {
        self.when == "at" || !self.revert_at.trim().is_empty()
    }

    pub(crate) fn schedule(&self) -> Schedule {
        let offset = self
            .tz_offset_minutes
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|m| m.abs() <= 14 * 60)
            .unwrap_or(0);
        let revert_ts = match self.revert_at.trim() {
            "" => None,
            r => text(iso(r, offset)),
        };
        if self.when == "at" {
            return Schedule {
                instant_execute: Some(Value {
                    kind: Some(Kind::Boolean(false)),
                }),
                execute_ts: text(iso(self.execute_at.trim(), offset)),
                revert_ts,
            };
        }
        match revert_ts {
            // Applied at once, nothing else planned: a plain batch.
            None => Schedule::default(),
            Some(r) => Schedule {
                instant_execute: Some(Value {
                    kind: Some(Kind::Boolean(true)),
                }),
                execute_ts: None,
                revert_ts: Some(r),
            },
        }
    }
}

/// A time core wrote (RFC 3339 UTC) as the pages show times; anything else as it is.
fn shown(ts: &str) -> String {
    ts.strip_suffix('Z')
        .map(|t| format!("{} UTC", t.replacen('T', " ", 1)))
        .unwrap_or_else(|| ts.to_string())
}

/// A schedule status core names (SPEC: `idle`, `running`, `finished`, `failed`, `cancelled`,
/// `conflict`) in the user's language; another as core wrote it.
fn status_word(status: &str) -> &str {
    match status {
        "idle" => t("plan.idle"),
        "running" => t("plan.running"),
        "finished" => t("plan.finished"),
        "failed" => t("plan.failed"),
        "cancelled" => t("plan.cancelled"),
        "conflict" => t("plan.conflict"),
        other => other,
    }
}

/// A batch's schedule as the history and result pages show it.
pub(crate) fn plan(b: &pb::GetBatchResponse) -> Plan {
    let line = |ts: &str, status: &str, who: &str| -> (String, Moment) {
        let at = Moment {
            iso: ts.to_string(),
            text: shown(ts),
        };
        let mut out = status_word(status).to_string();
        if !out.is_empty() && !who.is_empty() {
            out = tf("plan.by", &[("plan", &out), ("user", &who)]);
        }
        (out, at)
    };
    // A batch applied at once with nothing planned has no schedule worth a line.
    let planned = !b.instant_execute || !b.revert_ts.is_empty() || !b.revert_status.is_empty();
    let detail = [b.execute_detail.as_str(), b.revert_detail.as_str()]
        .into_iter()
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if !planned && detail.is_empty() {
        return Plan::default();
    }
    let (execute, execute_at) = line(&b.execute_ts, &b.execute_status, &b.executor);
    let (revert, revert_at) = line(&b.revert_ts, &b.revert_status, &b.reverter);
    Plan {
        execute,
        execute_at,
        revert,
        revert_at,
        detail,
    }
}

/// The buttons worth showing for a batch. Core decides whether an action is allowed; this
/// only leaves out buttons that could not work, so the page stays readable.
pub(crate) fn actions(b: &pb::GetBatchResponse) -> Vec<Action> {
    let mut out = Vec::new();
    if b.state == "held" && b.check_only {
        // Checked, nothing applied: apply it (core checks again as it applies) or discard it.
        // `all` replaces the whole data set: that is asked once more.
        out.push(Action {
            name: "execute".into(),
            label: t("action.execute").into(),
            confirm: if b.operation == "all" {
                t("action.execute_all").into()
            } else {
                String::new()
            },
        });
        out.push(Action {
            name: "cancel".into(),
            label: t("action.discard").into(),
            confirm: t("action.discard_confirm").into(),
        });
        return out;
    }
    if b.execute_status == "idle" {
        out.push(Action {
            name: "execute".into(),
            label: t("action.execute").into(),
            confirm: String::new(),
        });
        out.push(Action {
            name: "cancel".into(),
            label: t("action.cancel").into(),
            confirm: t("action.cancel_confirm").into(),
        });
    }
    if b.state == "applied" && (b.revert_status.is_empty() || b.revert_status == "idle") {
        out.push(Action {
            name: "revert".into(),
            label: t("action.revert").into(),
            confirm: t("action.revert_confirm").into(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(when: &str, execute_at: &str, revert_at: &str, tz: &str) -> ScheduleForm {
        ScheduleForm {
            when: when.into(),
            execute_at: execute_at.into(),
            revert_at: revert_at.into(),
            tz_offset_minutes: tz.into(),
        }
    }

    fn t(s: &str) -> Option<Value> {
        text(s.into())
    }

    #[test]
    fn a_checked_batch_offers_apply_now_and_discard() {
        let mut b = pb::GetBatchResponse {
            state: "held".into(),
            execute_status: "idle".into(),
            operation: "insert".into(),
            check_only: true,
            ..Default::default()
        };
        let shown = |b: &pb::GetBatchResponse| -> Vec<(String, String, bool)> {
            actions(b)
                .into_iter()
                .map(|a| (a.name, a.label, a.confirm.is_empty()))
                .collect()
        };
        let pair = |n: &str, l: &str, quiet: bool| (n.to_string(), l.to_string(), quiet);
        assert_eq!(
            shown(&b),
            [
                pair("execute", "Apply now", true),
                pair("cancel", "Discard", false)
            ]
        );
        // `all` replaces the whole data set: Apply now asks first.
        b.operation = "all".into();
        assert!(!shown(&b)[0].2);
        // A scheduled (not checked) batch keeps its own buttons.
        b.check_only = false;
        assert_eq!(shown(&b)[1], pair("cancel", "Cancel", false));
        // Applied: nothing of the check is left to do.
        b.check_only = true;
        b.state = "applied".into();
        b.execute_status = "finished".into();
        assert!(shown(&b).iter().all(|a| a.0 == "revert"), "{:?}", shown(&b));
    }

    #[test]
    fn browser_times_get_the_browsers_offset() {
        assert_eq!(iso("2026-11-23T12:00", 480), "2026-11-23T12:00:00+08:00");
        assert_eq!(
            iso("2026-11-23T12:00:30", -330),
            "2026-11-23T12:00:30-05:30"
        );
        assert_eq!(iso("2026-11-23T12:00", 0), "2026-11-23T12:00:00+00:00");
        // Not a datetime-local value: core sees it as typed and answers it.
        assert_eq!(iso("tomorrow", 0), "tomorrow");
        assert_eq!(iso("2026-11-23 12:00", 0), "2026-11-23 12:00");
        assert_eq!(iso("2026-11-23T12:00Z", 0), "2026-11-23T12:00Z");
        assert_eq!(iso("２０２６-11-23T12:00", 0), "２０２６-11-23T12:00");
    }

    #[test]
    fn the_three_inputs_become_the_envelope_fields() {
        assert_eq!(form("now", "", "", "").schedule(), Schedule::default());
        assert_eq!(
            form("now", "", "2026-12-01T08:00", "60").schedule(),
            Schedule {
                instant_execute: Some(Value {
                    kind: Some(Kind::Boolean(true))
                }),
                execute_ts: None,
                revert_ts: t("2026-12-01T08:00:00+01:00"),
            }
        );
        assert_eq!(
            form("at", "2026-11-30T08:00", "", "bogus").schedule(),
            Schedule {
                instant_execute: Some(Value {
                    kind: Some(Kind::Boolean(false))
                }),
                execute_ts: t("2026-11-30T08:00:00+00:00"),
                revert_ts: None,
            }
        );
        // "at" with no time: an empty executeTs, which core refuses with its code.
        assert_eq!(form("at", "", "", "0").schedule().execute_ts, t(""));
        // An offset beyond any time zone is ignored.
        assert_eq!(
            form("at", "2026-11-30T08:00", "", "100000")
                .schedule()
                .execute_ts,
            t("2026-11-30T08:00:00+00:00")
        );
    }
}
