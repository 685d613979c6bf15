//! `wharf partner set-addresses`, `wharf user unlock` and `wharf user bans`: partners' allow
//! lists and the defender's bans. Parse, call core, print; the rules are core's
//! (`wharf_core::defender`).

use std::io::Write;

use wharf_core::audit::Origin;
use wharf_core::Core;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["cidrs", "any"])))]
pub struct SetAddresses {
    app_name: String,
    /// The networks, comma-separated (e.g. 203.0.113.0/24,2001:db8::/32).
    #[arg(value_delimiter = ',', value_name = "CIDR[,CIDR…]")]
    cidrs: Vec<String>,
    /// Any address may use the partner's credentials (the default of a new partner).
    #[arg(long)]
    any: bool,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["name", "address"])))]
pub struct Unlock {
    /// The user name (or partner client id) whose ban is lifted.
    name: Option<String>,
    /// Lift the ban of this source address instead (e.g. 203.0.113.7).
    #[arg(long, value_name = "IP")]
    address: Option<String>,
}

pub async fn set_addresses(core: &Core, a: SetAddresses, o: &Origin) -> anyhow::Result<()> {
    let cidrs = if a.any { Vec::new() } else { a.cidrs };
    core.set_partner_addresses(o, &a.app_name, cidrs).await?;
    let now = core.partner_addresses(&a.app_name).await?;
    if now.is_empty() {
        println!("partner {} may log in from any address", a.app_name);
    } else {
        println!(
            "partner {} may log in from {} only",
            a.app_name,
            now.join(", ")
        );
    }
    Ok(())
}

pub async fn unlock(core: &Core, a: Unlock, o: &Origin) -> anyhow::Result<()> {
    core.unlock(o, a.name.as_deref(), a.address.as_deref())
        .await?;
    let what = match (&a.name, &a.address) {
        (Some(n), _) => format!("user {n}"),
        (None, Some(ip)) => format!("address {ip}"),
        (None, None) => String::new(),
    };
    // The same words whether there was a ban or not: either way it may log in now.
    println!("{what} unlocked");
    Ok(())
}

pub async fn bans(core: &Core, json: bool) -> anyhow::Result<()> {
    let bans = core.bans().await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if json {
        for b in &bans {
            writeln!(out, "{}", serde_json::to_string(b)?)?;
        }
    } else {
        writeln!(out, "WHAT\tBANNED UNTIL\tOFFENCES")?;
        for b in &bans {
            writeln!(out, "{}\t{}\t{}", b.what, b.banned_until, b.offences)?;
        }
    }
    out.flush()?;
    Ok(())
}
