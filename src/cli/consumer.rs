//! `wharf consumer add|list|revoke|webhook`: the company's systems that read partners' data
//! through the consumer API, and the webhooks that tell them of batch events. Parse, call
//! core, print; the rules are core's.

use clap::Subcommand;
use wharf_core::audit::Origin;
use wharf_core::Core;

use super::accounts::{parse_duration, print_json, table, when, when_opt, DEFAULT_GRACE};
use super::Usage;

#[derive(Subcommand)]
pub enum ConsumerCmd {
    /// Make consumer NAME and print its token on stdout, once: it is stored only as its
    /// SHA-256 and cannot be shown again (revoke it and add the name again for a new one).
    /// The consumer sends it as `Authorization: Bearer TOKEN` to the consumer API
    /// (`/consumer/v1/…` on the HTTP API listener).
    Add {
        /// Who reads, e.g. planning-etl (1-64 letters, digits, '_', '-', '.', '@').
        name: String,
        /// The interfaces it may read: DATA_CATEGORY/BIZ_KEY, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        interfaces: Vec<String>,
        /// Every interface, those added later included.
        #[arg(long)]
        all: bool,
    },
    /// List consumers: name, interfaces, created, revoked, last used (never a token).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke consumer NAME: its token stops working at once.
    Revoke { name: String },
    /// Webhooks: batch events pushed to a consumer's URL, signed (Standard Webhooks).
    Webhook {
        #[command(subcommand)]
        action: WebhookCmd,
    },
}

#[derive(Subcommand)]
pub enum WebhookCmd {
    /// Subscribe CONSUMER's URL to batch events (of the interfaces it may read) and print
    /// the subscription's signing secret (whsec_…) on stdout, once. Needs WHARF_SECRET_KEY.
    Add {
        consumer: String,
        /// https://… (http:// only with --allow-http).
        url: String,
        /// Comma-separated: applied, executed, failed, reverted, held, cancelled, expired,
        /// file.delivered (default: all).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// Accept a plain http:// URL knowingly.
        #[arg(long)]
        allow_http: bool,
    },
    /// List subscriptions: id, consumer, URL, events, state, deliveries (never a secret).
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A new signing secret for subscription ID, printed once; the old one keeps signing
    /// beside it for the grace period (`0` ends it at once). Needs WHARF_SECRET_KEY.
    RotateSecret {
        id: i64,
        #[arg(long, default_value = DEFAULT_GRACE)]
        grace: String,
    },
    /// Remove subscription ID and its undelivered events.
    Remove { id: i64 },
}

/// Commands that seal or open a webhook's secret: they stop without the key.
pub fn needs_key(cmd: &ConsumerCmd) -> bool {
    matches!(
        cmd,
        ConsumerCmd::Webhook {
            action: WebhookCmd::Add { .. } | WebhookCmd::RotateSecret { .. }
        }
    )
}

/// The refusal when the key is missing.
pub fn no_key() -> anyhow::Error {
    Usage(
        "webhooks need WHARF_SECRET_KEY: 32 random bytes in base64 (e.g. `openssl rand -base64 32`), the same for every wharf process".into(),
    )
    .into()
}

/// `wharf consumer …`, done as `cli:$USER` (`user`).
pub async fn consumer(core: &Core, cmd: ConsumerCmd, user: &str) -> anyhow::Result<()> {
    let o = Origin::cli(user);
    match cmd {
        ConsumerCmd::Add {
            name,
            interfaces,
            all,
        } => {
            let interfaces = match all {
                true => vec![wharf_core::consumers::EVERY_INTERFACE.to_string()],
                false => interfaces,
            };
            let token = core.add_consumer(&o, &name, &interfaces).await?;
            eprintln!(
                "consumer {name} created; its token follows (shown once, keep it in a secret store):"
            );
            println!("{token}");
        }
        ConsumerCmd::List { json } => {
            let all = core.consumers().await?;
            if json {
                return print_json(&all);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.interfaces.join(","),
                        when(c.created_unix),
                        when_opt(c.revoked_unix),
                        when_opt(c.last_used_unix),
                    ]
                })
                .collect();
            table(
                &["CONSUMER", "INTERFACES", "CREATED", "REVOKED", "LAST USED"],
                &rows,
            )?;
        }
        ConsumerCmd::Revoke { name } => {
            core.revoke_consumer(&o, &name).await?;
            println!("consumer {name} revoked");
        }
        ConsumerCmd::Webhook { action } => webhook(core, action, &o).await?,
    }
    Ok(())
}

async fn webhook(core: &Core, cmd: WebhookCmd, o: &Origin) -> anyhow::Result<()> {
    match cmd {
        WebhookCmd::Add {
            consumer,
            url,
            events,
            allow_http,
        } => {
            let (id, secret) = core
                .add_webhook(o, &consumer, &url, &events, allow_http)
                .await?;
            eprintln!(
                "webhook {id} for consumer {consumer} created; its signing secret follows (shown once, keep it in a secret store):"
            );
            println!("{secret}");
        }
        WebhookCmd::List { json } => {
            let all = core.webhooks().await?;
            if json {
                return print_json(&all);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|w| {
                    let state = match &w.disabled_reason {
                        Some(why) => format!("{} ({why}, {})", w.state, when_opt(w.disabled_unix)),
                        None => w.state.clone(),
                    };
                    vec![
                        w.id.to_string(),
                        w.consumer.clone(),
                        w.url.clone(),
                        w.events.join(","),
                        state,
                        format!("{}/{}/{}", w.pending, w.delivered, w.failed),
                        when(w.created_unix),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "CONSUMER",
                    "URL",
                    "EVENTS",
                    "STATE",
                    "PENDING/DELIVERED/FAILED",
                    "CREATED",
                ],
                &rows,
            )?;
        }
        WebhookCmd::RotateSecret { id, grace } => {
            let grace_secs = parse_duration(&grace).map_err(|e| Usage(format!("--grace {e}")))?;
            let secret = core.rotate_webhook_secret(o, id, grace_secs as i64).await?;
            if grace_secs == 0 {
                eprintln!(
                    "webhook {id}: new signing secret in use; the previous one no longer signs:"
                );
            } else {
                let until = core.now().saturating_add(grace_secs as i64);
                eprintln!(
                    "webhook {id}: new signing secret in use; the previous one also signs until {}:",
                    when(until)
                );
            }
            println!("{secret}");
        }
        WebhookCmd::Remove { id } => {
            core.remove_webhook(o, id).await?;
            println!("webhook {id} removed");
        }
    }
    Ok(())
}
