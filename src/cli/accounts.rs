//! `wharf partner list|show|disable|enable|remove|set-interfaces|rotate-secret`, `wharf user
//! list|show|disable|enable|reset-password|remove`, `wharf token list|revoke` and `wharf
//! interface list|show`: their arguments and bodies. Parse, call core (`wharf_core::accounts`),
//! print a table or JSON; the rules are core's. Every change acts as `cli:$USER`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Context};
use clap::{ArgGroup, Subcommand};
use serde::Serialize;
use wharf_core::accounts::{InterfaceDefinition, PartnerInfo, TokenInfo, TokenSelector, UserInfo};
use wharf_core::audit::Origin;
use wharf_core::Core;

use super::{read_secret, Usage};

#[derive(Subcommand)]
pub enum TokenCmd {
    /// List live API tokens and upload-page sessions: id, kind, owner, issued, expires, last
    /// used (to the minute). Never the token itself.
    List {
        /// Only this partner's (its users' included).
        #[arg(long, value_name = "APP")]
        partner: Option<String>,
        /// Only this user's.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// End tokens at once (the next call with them gets 401): one by its id (from `token
    /// list`), or every token and session of a partner or of a user.
    #[command(group(ArgGroup::new("which").required(true).args(["id", "partner", "user"])))]
    Revoke {
        /// The token's id, as `wharf token list` shows it.
        id: Option<String>,
        #[arg(long, value_name = "APP")]
        partner: Option<String>,
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum InterfaceCmd {
    /// The interfaces core loaded (built-in and WHARF_INTERFACES_DIR's).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One interface's definition as core loaded it: fields, types, keys, defaults.
    Show {
        /// DATA_CATEGORY/BIZ_KEY, e.g. t1/bom.
        #[arg(value_name = "DATA_CATEGORY/BIZ_KEY")]
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// A grace period (see `wharf_core::clock::parse_duration`: `0`, `30s`, `15m`, `24h`, `7d`).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    wharf_core::clock::parse_duration(text).ok_or_else(|| {
        format!("{text:?}: use 0, or a whole number with s, m, h or d (30s, 15m, 24h, 7d)")
    })
}

/// `--grace`'s default, as typed.
pub const DEFAULT_GRACE: &str = "24h";

pub(super) fn when(unix: i64) -> String {
    if unix <= 0 {
        "-".into()
    } else {
        wharf_proto::time::rfc3339(unix)
    }
}

pub(super) fn when_opt(unix: Option<i64>) -> String {
    unix.map_or_else(|| "-".into(), when)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn interfaces_text(i: &Option<Vec<String>>) -> String {
    match i {
        None => "all".into(),
        Some(list) if list.is_empty() => "none".into(),
        Some(list) => list.join(","),
    }
}

/// Print `rows` under `header`, columns padded to their widest cell.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut line = |cells: Vec<&str>| -> std::io::Result<()> {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                write!(out, "{cell}")?;
            } else {
                write!(out, "{cell:<w$}  ")?;
            }
        }
        writeln!(out)
    };
    line(header.to_vec())?;
    for row in rows {
        line(row.iter().map(String::as_str).collect())?;
    }
    out.flush()?;
    Ok(())
}

/// `label: value` lines, labels aligned.
fn fields(pairs: &[(&str, String)]) -> anyhow::Result<()> {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (k, v) in pairs {
        writeln!(out, "{:<width$} {v}", format!("{k}:"))?;
    }
    out.flush()?;
    Ok(())
}

/// One JSON document on one line (`jq` and scripts read it as it is).
pub(super) fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

pub async fn partner_list(core: &Core, json: bool) -> anyhow::Result<()> {
    let all = core.partners().await?;
    if json {
        return print_json(&all);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|p| {
            vec![
                p.name.clone(),
                if p.disabled { "disabled" } else { "enabled" }.into(),
                p.users.len().to_string(),
                interfaces_text(&p.interfaces),
                when(p.created_unix),
            ]
        })
        .collect();
    table(
        &["PARTNER", "STATE", "USERS", "INTERFACES", "CREATED"],
        &rows,
    )
}

pub async fn partner_show(core: &Core, name: &str, json: bool) -> anyhow::Result<()> {
    let p: PartnerInfo = core.partner_info(name).await?;
    if json {
        return print_json(&p);
    }
    fields(&[
        ("partner", p.name.clone()),
        ("disabled", yes_no(p.disabled).into()),
        ("interfaces", interfaces_text(&p.interfaces)),
        (
            "users",
            if p.users.is_empty() {
                "-".into()
            } else {
                p.users.join(", ")
            },
        ),
        ("created", when(p.created_unix)),
        ("secret rotated", when_opt(p.secret_rotated_unix)),
        (
            "previous secret valid until",
            when_opt(p.previous_secret_valid_until),
        ),
    ])
}

pub async fn partner_disable(
    core: &Core,
    o: &Origin,
    name: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    core.set_partner_disabled(o, name, disabled).await?;
    if disabled {
        println!("partner {name} disabled: its users, tokens and sessions are refused on every door; its data stays");
    } else {
        println!("partner {name} enabled");
    }
    Ok(())
}

/// Ask on the terminal for the partner's name; anything else stops the removal.
fn confirm_name(name: &str, with_data: bool) -> anyhow::Result<()> {
    let what = if with_data {
        "the partner, its users, tokens, keys AND ALL ITS DATA (batches, records, files, endpoints, pushes)"
    } else {
        "the partner with its users, tokens and keys"
    };
    eprint!("This removes {what}. Type the partner's name ({name}) to confirm: ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the confirmation")?;
    if line.trim() != name {
        bail!(Usage(format!(
            "not confirmed: partner {name} was not removed"
        )));
    }
    Ok(())
}

pub async fn partner_remove(
    core: &Core,
    o: &Origin,
    name: &str,
    with_data: bool,
    yes: bool,
) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        if !yes {
            // Asked before any check, so nothing is learnt or done unconfirmed.
            confirm_name(name, with_data)?;
        }
    } else if with_data && !yes {
        bail!(Usage(format!(
            "removing partner {name} with its data needs a confirmation: run it on a terminal, \
             or add --yes"
        )));
    }
    core.remove_partner(o, name, with_data).await?;
    if with_data {
        println!("partner {name} removed with its users and data");
    } else {
        println!("partner {name} removed with its users");
    }
    Ok(())
}

pub async fn partner_set_interfaces(
    core: &Core,
    o: &Origin,
    name: &str,
    list: Option<Vec<String>>,
    all: bool,
) -> anyhow::Result<()> {
    let interfaces = match (list, all) {
        (_, true) => None,
        (Some(list), false) => Some(
            list.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
        (None, false) => bail!(Usage(
            "name the interfaces (e.g. t1/bom,odm/master_data) or --all".into()
        )),
    };
    core.set_partner_interfaces(o, name, interfaces.clone())
        .await?;
    println!(
        "partner {name} may use: {}",
        interfaces_text(&interfaces.map(|mut l| {
            l.sort();
            l.dedup();
            l
        }))
    );
    Ok(())
}

pub async fn partner_rotate_secret(
    core: &Core,
    o: &Origin,
    name: &str,
    grace: &str,
) -> anyhow::Result<()> {
    let grace_secs = parse_duration(grace).map_err(|e| Usage(format!("--grace {e}")))?;
    let secret = read_secret("new client secret")?;
    core.rotate_partner_secret(o, name, &secret, grace_secs)
        .await?;
    if grace_secs == 0 {
        println!("partner {name}: new client secret in use; the previous one no longer works");
    } else {
        let until = core.now().saturating_add(grace_secs as i64);
        println!(
            "partner {name}: new client secret in use; the previous one works until {}",
            when(until)
        );
    }
    Ok(())
}

pub async fn user_list(core: &Core, partner: Option<&str>, json: bool) -> anyhow::Result<()> {
    let all = core.users(partner).await?;
    if json {
        return print_json(&all);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|u| {
            vec![
                u.username.clone(),
                u.partner.clone(),
                if u.disabled { "disabled" } else { "enabled" }.into(),
                u.keys.to_string(),
                when(u.created_unix),
                when_opt(u.password_changed_unix),
            ]
        })
        .collect();
    table(
        &[
            "USER",
            "PARTNER",
            "STATE",
            "KEYS",
            "CREATED",
            "PASSWORD CHANGED",
        ],
        &rows,
    )
}

pub async fn user_show(core: &Core, name: &str, json: bool) -> anyhow::Result<()> {
    let u: UserInfo = core.user_info(name).await?;
    if json {
        return print_json(&u);
    }
    fields(&[
        ("user", u.username.clone()),
        ("partner", u.partner.clone()),
        ("disabled", yes_no(u.disabled).into()),
        ("ssh keys", u.keys.to_string()),
        ("created", when(u.created_unix)),
        ("password changed", when_opt(u.password_changed_unix)),
    ])
}

pub async fn user_disable(
    core: &Core,
    o: &Origin,
    name: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    core.set_user_disabled(o, name, disabled).await?;
    if disabled {
        println!("user {name} disabled: its logins, tokens and sessions are refused on every door");
    } else {
        println!("user {name} enabled");
    }
    Ok(())
}

pub async fn user_reset_password(core: &Core, o: &Origin, name: &str) -> anyhow::Result<()> {
    let password = read_secret("new password")?;
    core.reset_password(o, name, &password).await?;
    println!("user {name}: password reset; its API tokens and upload-page sessions ended");
    Ok(())
}

pub async fn user_remove(core: &Core, o: &Origin, name: &str) -> anyhow::Result<()> {
    core.remove_user(o, name).await?;
    println!("user {name} removed with its keys, tokens and sessions");
    Ok(())
}

pub async fn token(core: &Core, o: &Origin, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::List {
            partner,
            user,
            json,
        } => {
            let all: Vec<TokenInfo> = core.tokens(partner.as_deref(), user.as_deref()).await?;
            if json {
                return print_json(&all);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.kind.clone(),
                        t.partner.clone(),
                        t.user.clone().unwrap_or_else(|| "-".into()),
                        when(t.issued_unix),
                        when(t.expires_unix),
                        when_opt(t.last_used_unix),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "KIND",
                    "PARTNER",
                    "USER",
                    "ISSUED",
                    "EXPIRES",
                    "LAST USED",
                ],
                &rows,
            )
        }
        TokenCmd::Revoke { id, partner, user } => {
            let which = match (id, partner, user) {
                (Some(id), None, None) => TokenSelector::Id(id),
                (None, Some(p), None) => TokenSelector::Partner(p),
                (None, None, Some(u)) => TokenSelector::User(u),
                _ => bail!(Usage(
                    "name one token id, or --partner APP, or --user NAME".into()
                )),
            };
            let n = core.revoke_tokens(o, &which).await?;
            println!("{n} token(s) revoked");
            Ok(())
        }
    }
}

pub fn interface(core: &Core, cmd: InterfaceCmd) -> anyhow::Result<()> {
    match cmd {
        InterfaceCmd::List { json } => {
            let all = core.interface_definitions();
            if json {
                return print_json(&all);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|i| {
                    vec![
                        i.id.clone(),
                        i.fields.len().to_string(),
                        i.business_key.join(","),
                        i.description.clone(),
                    ]
                })
                .collect();
            table(
                &["INTERFACE", "FIELDS", "BUSINESS KEY", "DESCRIPTION"],
                &rows,
            )
        }
        InterfaceCmd::Show { id, json } => {
            let i: InterfaceDefinition = core.interface_definition(&id)?;
            if json {
                return print_json(&i);
            }
            fields(&[
                ("interface", i.id.clone()),
                ("description", i.description.clone()),
                ("business key", i.business_key.join(", ")),
                (
                    "uid field",
                    i.uid_field.clone().unwrap_or_else(|| "-".into()),
                ),
                ("extra fields", yes_no(i.allow_extra_fields).into()),
            ])?;
            println!();
            let rows: Vec<Vec<String>> = i
                .fields
                .iter()
                .map(|f| {
                    vec![
                        f.name.clone(),
                        f.ty.clone(),
                        yes_no(f.required).into(),
                        f.max_length.map_or_else(|| "-".into(), |n| n.to_string()),
                        f.default.clone().unwrap_or_else(|| "-".into()),
                        if f.allowed.is_empty() {
                            "-".into()
                        } else {
                            f.allowed.join("|")
                        },
                        if f.exceptions.is_empty() {
                            "-".into()
                        } else {
                            f.exceptions.join("|")
                        },
                    ]
                })
                .collect();
            table(
                &[
                    "FIELD",
                    "TYPE",
                    "REQUIRED",
                    "MAX LENGTH",
                    "DEFAULT",
                    "ALLOWED",
                    "EXCEPTIONS",
                ],
                &rows,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_grace_is_core_s() {
        assert_eq!(
            parse_duration(DEFAULT_GRACE),
            Ok(wharf_core::accounts::DEFAULT_ROTATION_GRACE_SECS)
        );
        assert!(parse_duration("soon").is_err());
    }
}
