//! `wharf consumer add|list|revoke`: the company's systems that read partners' data through
//! the consumer API. Parse, call core, print; the rules are core's.

use clap::Subcommand;
use wharf_core::audit::Origin;
use wharf_core::Core;

use super::accounts::{print_json, table, when, when_opt};

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
    }
    Ok(())
}
