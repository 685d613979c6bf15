//! `wharf partner …`, `wharf user …`, `wharf export` and `wharf batch
//! execute|revert|cancel`: their arguments, and the bodies of all but the lifecycle commands
//! (`super::accounts`). Parse, call core, print; the rules are core's.

use std::io::Write;

use anyhow::Context;
use clap::Subcommand;
use wharf_core::audit::Origin;
use wharf_core::model::Environment;
use wharf_core::{Core, CoreError};
use wharf_proto::v1 as pb;

use super::accounts as acc;
use super::read_secret;

#[derive(Subcommand)]
pub enum PartnerCmd {
    /// Create a partner; its client secret is read from stdin (client_id = APP_NAME).
    Add {
        app_name: String,
        /// Limit the partner to these interfaces (default: all), e.g. t1/bom,odm/master_data.
        #[arg(long, value_delimiter = ',')]
        interfaces: Option<Vec<String>>,
    },
    /// List partners: state, users, interfaces, created.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One partner: state, interfaces, users, secret rotation.
    Show {
        app_name: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Refuse the partner's users, tokens and sessions on every door at once (open FTP and
    /// SFTP sessions included); its data stays.
    Disable { app_name: String },
    /// Let a disabled partner in again.
    Enable { app_name: String },
    /// Remove a partner with its users, keys, tokens and sessions. Refused while it holds
    /// data unless --with-data. On a terminal it asks you to type the partner's name; with
    /// --with-data and stdin not a terminal, --yes is required.
    Remove {
        app_name: String,
        /// Also delete its data: batches, records, delivered files, endpoints, pushes.
        #[arg(long)]
        with_data: bool,
        /// Do not ask for confirmation (scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Set which interfaces the partner may use, at once on every door: a list
    /// (t1/bom,odm/master_data) or --all.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["interfaces", "all"])))]
    SetInterfaces {
        app_name: String,
        /// DATA_CATEGORY/BIZ_KEY, comma-separated.
        #[arg(value_delimiter = ',', value_name = "LIST")]
        interfaces: Option<Vec<String>>,
        /// Every interface, present and future.
        #[arg(long)]
        all: bool,
    },
    /// Give the partner a new client secret, read from stdin. The old one keeps working for
    /// --grace (e.g. 30s, 15m, 24h, 7d; 0: stops at once; at most 30 days), then only the new one does.
    RotateSecret {
        app_name: String,
        #[arg(long, default_value = acc::DEFAULT_GRACE, value_name = "DURATION")]
        grace: String,
    },
    /// Limit where APP_NAME's credentials may be used from (every door: logins, tokens,
    /// upload page sessions, SFTP keys): CIDRs, IPv4 or IPv6, comma-separated
    /// (10.0.0.0/8,2001:db8::/32; an address alone is one host); --any lifts the limit.
    SetAddresses(super::defender::SetAddresses),
}

#[derive(Subcommand)]
pub enum UserCmd {
    /// Create a user of a partner; the password is read from stdin.
    Add {
        username: String,
        #[arg(long)]
        partner: String,
    },
    /// A user's SSH public keys, for key logins over SFTP.
    Key {
        #[command(subcommand)]
        action: KeyCmd,
    },
    /// List users (of one partner): state, SSH keys, created, password changed.
    List {
        #[arg(long, value_name = "APP")]
        partner: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One user: partner, state, SSH keys, dates.
    Show {
        username: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Refuse the user's logins, tokens and sessions on every door at once.
    Disable { username: String },
    /// Let a disabled user in again.
    Enable { username: String },
    /// Set a new password, read from stdin (never an argument). The user's API tokens and
    /// upload-page sessions end; SSH keys stay.
    ResetPassword { username: String },
    /// Remove a user with its SSH keys, tokens and sessions (its batches stay).
    Remove { username: String },
    /// Lift a login ban: of a user name (and the partner client id of that name), or of a
    /// source address with --address.
    Unlock(super::defender::Unlock),
    /// The login bans running now: what is banned (address:IP, user:NAME, client:APP), until
    /// when, and how many bans it had.
    Bans {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Authorize a public key (OpenSSH's one-line form, as in id_ed25519.pub: Ed25519, or
    /// RSA of 2048 bits or more) for USERNAME; read from stdin, or from --file.
    Add {
        username: String,
        /// Read the key from this file (e.g. a partner's id_ed25519.pub) instead of stdin.
        #[arg(long, value_name = "PATH")]
        file: Option<std::path::PathBuf>,
    },
    /// List USERNAME's keys: fingerprint, algorithm, comment, when added.
    List { username: String },
    /// Remove one of USERNAME's keys, named by its SHA256:… fingerprint.
    Remove {
        username: String,
        fingerprint: String,
    },
}

#[derive(clap::Args)]
pub struct ExportArgs {
    data_category: String,
    biz_key: String,
    #[arg(long)]
    partner: String,
    #[arg(long, default_value = "prod", value_parser = ["prod", "uat"])]
    env: String,
}

#[derive(Subcommand)]
pub enum BatchCmd {
    /// Apply a held (scheduled) batch now instead of at its executeTs.
    Execute(BatchTarget),
    /// Take an applied batch's rows back out (once).
    Revert(BatchTarget),
    /// Stop a batch that has not been executed yet.
    Cancel(BatchTarget),
}

#[derive(clap::Args)]
pub struct BatchTarget {
    batch_id: String,
    #[arg(long)]
    partner: String,
    #[arg(long, default_value = "prod", value_parser = ["prod", "uat"])]
    env: String,
    /// The batch's interface, DATA_CATEGORY/BIZ_KEY (e.g. t1/bom). Batch ids are unique per
    /// interface only: without it the id is looked up in every interface of the partner, and
    /// the command refuses when more than one has it.
    #[arg(long, value_name = "DATA_CATEGORY/BIZ_KEY")]
    interface: Option<String>,
    /// Who acts (the batch's executor / reverter / modifier); default `cli:$USER`.
    #[arg(long = "as", value_name = "NAME")]
    as_user: Option<String>,
}

pub async fn partner(core: &Core, cmd: PartnerCmd, o: &Origin) -> anyhow::Result<()> {
    match cmd {
        PartnerCmd::Add {
            app_name,
            interfaces,
        } => {
            let secret = read_secret("client secret")?;
            core.add_partner(o, &app_name, &secret, interfaces).await?;
            println!("partner {app_name} created");
            Ok(())
        }
        PartnerCmd::List { json } => acc::partner_list(core, json).await,
        PartnerCmd::Show { app_name, json } => acc::partner_show(core, &app_name, json).await,
        PartnerCmd::Disable { app_name } => acc::partner_disable(core, o, &app_name, true).await,
        PartnerCmd::Enable { app_name } => acc::partner_disable(core, o, &app_name, false).await,
        PartnerCmd::Remove {
            app_name,
            with_data,
            yes,
        } => acc::partner_remove(core, o, &app_name, with_data, yes).await,
        PartnerCmd::SetInterfaces {
            app_name,
            interfaces,
            all,
        } => acc::partner_set_interfaces(core, o, &app_name, interfaces, all).await,
        PartnerCmd::RotateSecret { app_name, grace } => {
            acc::partner_rotate_secret(core, o, &app_name, &grace).await
        }
        PartnerCmd::SetAddresses(args) => super::defender::set_addresses(core, args, o).await,
    }
}

pub async fn user(core: &Core, cmd: UserCmd, o: &Origin) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Unlock(args) => super::defender::unlock(core, args, o).await?,
        UserCmd::Bans { json } => super::defender::bans(core, json).await?,
        UserCmd::Add { username, partner } => {
            let password = read_secret("password")?;
            core.add_user(o, &username, &partner, &password).await?;
            println!("user {username} created for partner {partner}");
        }
        UserCmd::Key { action } => key(core, action, o).await?,
        UserCmd::List { partner, json } => acc::user_list(core, partner.as_deref(), json).await?,
        UserCmd::Show { username, json } => acc::user_show(core, &username, json).await?,
        UserCmd::Disable { username } => acc::user_disable(core, o, &username, true).await?,
        UserCmd::Enable { username } => acc::user_disable(core, o, &username, false).await?,
        UserCmd::ResetPassword { username } => acc::user_reset_password(core, o, &username).await?,
        UserCmd::Remove { username } => acc::user_remove(core, o, &username).await?,
    }
    Ok(())
}

async fn key(core: &Core, cmd: KeyCmd, o: &Origin) -> anyhow::Result<()> {
    match cmd {
        KeyCmd::Add { username, file } => {
            let line = match file {
                Some(path) => std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
                None => read_secret("public key")?,
            };
            let k = core.add_user_key(o, &username, &line).await?;
            println!("{} added for user {username}", k.fingerprint);
        }
        KeyCmd::List { username } => {
            let keys = core.user_keys(&username).await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            writeln!(out, "FINGERPRINT\tALGORITHM\tCOMMENT\tADDED")?;
            for k in keys {
                let algorithm = k.public_key.split(' ').next().unwrap_or("");
                writeln!(
                    out,
                    "{}\t{algorithm}\t{}\t{}",
                    k.fingerprint,
                    k.comment,
                    wharf_proto::time::rfc3339(k.added_unix)
                )?;
            }
            out.flush()?;
        }
        KeyCmd::Remove {
            username,
            fingerprint,
        } => {
            core.remove_user_key(o, &username, &fingerprint).await?;
            println!("{fingerprint} removed from user {username}");
        }
    }
    Ok(())
}

pub async fn export(core: &Core, a: ExportArgs) -> anyhow::Result<()> {
    let env = Environment::parse(&a.env).unwrap_or(Environment::Prod);
    let rows = core
        .export(&a.partner, env, &a.data_category, &a.biz_key)
        .await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for row in rows {
        writeln!(out, "{row}")?;
    }
    out.flush()?;
    Ok(())
}

/// `wharf batch execute|revert|cancel`: find the batch's interface, act as `--as` or
/// `cli:$USER` (`user`), print the batch.
pub async fn batch(core: &Core, cmd: BatchCmd, user: &str) -> anyhow::Result<()> {
    let (action, t) = match cmd {
        BatchCmd::Execute(t) => ("execute", t),
        BatchCmd::Revert(t) => ("revert", t),
        BatchCmd::Cancel(t) => ("cancel", t),
    };
    let env = Environment::parse(&t.env).unwrap_or(Environment::Prod);
    let iface = match t.interface {
        Some(i) => i,
        None => {
            core.interface_of_batch(&t.partner, env, &t.batch_id)
                .await?
        }
    };
    let (category, biz_key) = iface.split_once('/').ok_or_else(|| {
        CoreError::Invalid(format!(
            "--interface {iface:?}: use DATA_CATEGORY/BIZ_KEY, e.g. t1/bom"
        ))
    })?;
    let req = pb::BatchActionRequest {
        partner: t.partner,
        environment: env.to_proto() as i32,
        data_category: category.to_string(),
        biz_key: biz_key.to_string(),
        batch_id: t.batch_id,
        action: action.to_string(),
        actor: t.as_user.unwrap_or_else(|| format!("cli:{user}")),
    };
    let b = core.act_on_batch(&req).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&wharf_proto::json::batch_json(&b))?
    );
    Ok(())
}
