//! `wharf audit list`: read the audit trail, filtered, as a table or JSON lines.

use std::io::Write;

use wharf_core::audit::{parse_when, Filter, Kind, MAX_PAGE};
use wharf_core::Core;

use super::Usage;

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Records of the audit trail, oldest first: administrative changes, logins on every
    /// door, batch events, files delivered and outbound pushes.
    List(ListArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only records concerning this partner (APP_NAME).
    #[arg(long)]
    partner: Option<String>,
    /// Only records concerning this user.
    #[arg(long)]
    user: Option<String>,
    /// Only this kind: admin, login, batch, file or push.
    #[arg(long, value_parser = ["admin", "login", "batch", "file", "push"])]
    kind: Option<String>,
    /// From this time on: RFC 3339 (2026-12-01T08:00:00Z), a UTC date (2026-12-01) or an age
    /// (30m, 24h, 7d).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Up to this time (same forms as --since).
    #[arg(long, value_name = "WHEN")]
    until: Option<String>,
    /// Only records after this id (the last id you read: a paging cursor).
    #[arg(long, value_name = "ID")]
    after: Option<i64>,
    /// At most this many records (default: all that match).
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

fn when(flag: &str, text: Option<&str>, now: i64) -> anyhow::Result<Option<i64>> {
    match text {
        None => Ok(None),
        Some(t) => match parse_when(t, now) {
            Some(unix) => Ok(Some(unix)),
            None => Err(Usage(format!(
                "{flag} {t:?}: use RFC 3339 (2026-12-01T08:00:00Z), a date (2026-12-01) or an \
                 age (30m, 24h, 7d)"
            ))
            .into()),
        },
    }
}

pub async fn audit(core: &Core, cmd: AuditCmd) -> anyhow::Result<()> {
    let AuditCmd::List(a) = cmd;
    let now = core.now();
    let mut filter = Filter {
        partner: a.partner,
        user: a.user,
        kind: a.kind.as_deref().and_then(Kind::parse),
        since: when("--since", a.since.as_deref(), now)?,
        until: when("--until", a.until.as_deref(), now)?,
        after: a.after,
        limit: MAX_PAGE,
    };
    let mut left = a.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !a.json {
        writeln!(
            out,
            "ID\tTIME\tKIND\tACTION\tACTOR\tDOOR\tADDRESS\tPARTNER\tUSER\tDETAIL"
        )?;
    }
    while left > 0 {
        filter.limit = u32::try_from(left.min(u64::from(MAX_PAGE))).unwrap_or(MAX_PAGE);
        let page = core.audit_list(&filter).await?;
        let Some(last) = page.last() else { break };
        filter.after = Some(last.id);
        left = left.saturating_sub(page.len() as u64);
        for r in &page {
            if a.json {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.id,
                    wharf_proto::time::rfc3339(r.at_unix),
                    r.kind,
                    r.action,
                    r.actor,
                    r.door,
                    r.addr,
                    r.partner,
                    r.user,
                    r.detail
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
