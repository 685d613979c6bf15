//! `wharf operator add|list|revoke`: the admin API's operators. Parse, call core, print; the
//! rules are core's.

use std::io::Write;

use clap::Subcommand;
use wharf_core::audit::Origin;
use wharf_core::Core;

#[derive(Subcommand)]
pub enum OperatorCmd {
    /// Make operator NAME and print its admin API token on stdout, once: it is stored only as
    /// its SHA-256 and cannot be shown again (revoke it and add the name again for a new one).
    /// Callers send it as `Authorization: Bearer TOKEN` to the admin API
    /// (WHARF_ADMIN_API_ADDR).
    Add {
        /// Who the token is for, e.g. terraform or ops@example.com (1-64 letters, digits,
        /// '_', '-', '.', '@'); the audit trail names it as operator:NAME.
        name: String,
    },
    /// List operators: name, created, revoked, last used (never a token).
    List {
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke operator NAME: its token stops working at once.
    Revoke { name: String },
}

/// `wharf operator …`, done as `cli:$USER` (`user`).
pub async fn operator(core: &Core, cmd: OperatorCmd, user: &str) -> anyhow::Result<()> {
    let o = Origin::cli(user);
    match cmd {
        OperatorCmd::Add { name } => {
            let token = core.add_operator(&o, &name).await?;
            eprintln!(
                "operator {name} created; its token follows (shown once, keep it in a secret store):"
            );
            println!("{token}");
        }
        OperatorCmd::List { json } => {
            let ops = core.operators().await?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let when = |t: Option<i64>| t.map(wharf_proto::time::rfc3339).unwrap_or("-".into());
            if json {
                for op in ops {
                    writeln!(out, "{}", serde_json::to_string(&op)?)?;
                }
            } else {
                writeln!(out, "NAME\tCREATED\tREVOKED\tLAST USED")?;
                for op in ops {
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        op.name,
                        wharf_proto::time::rfc3339(op.created_unix),
                        when(op.revoked_unix),
                        when(op.last_used_unix)
                    )?;
                }
            }
            out.flush()?;
        }
        OperatorCmd::Revoke { name } => {
            core.revoke_operator(&o, &name).await?;
            println!("operator {name} revoked");
        }
    }
    Ok(())
}
