//! Partners', users' and tokens' lifecycle on SQLite (SQL in `store::accounts`). A removal is
//! one `BEGIN IMMEDIATE` transaction.

use rusqlite::{params, Connection, OptionalExtension};

use super::{blocking, parse_interfaces, SqliteStore};
use crate::error::Result;
use crate::store::accounts::{self as sql, *};
use crate::store::sql::for_sqlite;

fn partner_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(PartnerDetail, Option<String>)> {
    Ok((
        PartnerDetail {
            name: r.get(0)?,
            interfaces: None,
            disabled: r.get::<_, i64>(2)? != 0,
            created_unix: r.get(3)?,
            secret_rotated_unix: r.get(4)?,
            previous_secret_until: r.get(5)?,
            users: Vec::new(),
        },
        r.get(1)?,
    ))
}

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserDetail> {
    Ok(UserDetail {
        username: r.get(0)?,
        partner: r.get(1)?,
        disabled: r.get::<_, i64>(2)? != 0,
        created_unix: r.get(3)?,
        password_changed_unix: r.get(4)?,
        keys: u64::try_from(r.get::<_, i64>(5)?).unwrap_or(0),
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenDetail> {
    Ok(TokenDetail {
        id: r.get(0)?,
        kind: r.get(1)?,
        partner: r.get(2)?,
        username: r.get(3)?,
        issued_unix: r.get(4)?,
        expires_unix: r.get(5)?,
        last_used_unix: r.get(6)?,
    })
}

/// Every partner's users: (partner, username) by partner and name.
fn user_names(c: &Connection, partner: &str) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = c.prepare_cached(&for_sqlite(sql::SELECT_USER_NAMES))?;
    let rows = stmt.query_map([partner], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Partners with their interfaces read and their users attached.
fn complete(
    rows: Vec<(PartnerDetail, Option<String>)>,
    names: Vec<(String, String)>,
) -> Result<Vec<PartnerDetail>> {
    rows.into_iter()
        .map(|(mut p, ifs)| {
            p.interfaces = parse_interfaces(ifs)?;
            p.users = names
                .iter()
                .filter(|(owner, _)| *owner == p.name)
                .map(|(_, u)| u.clone())
                .collect();
            Ok(p)
        })
        .collect()
}

fn counts(c: &Connection, name: &str) -> rusqlite::Result<DataCounts> {
    let mut found = Vec::new();
    for (what, q) in sql::PARTNER_DATA {
        let n: i64 = c
            .prepare_cached(&for_sqlite(q))?
            .query_row([name], |r| r.get(0))?;
        if n > 0 {
            found.push((*what, n as u64));
        }
    }
    Ok(found)
}

/// Run `statements` (each with the one parameter `arg`) in one `BEGIN IMMEDIATE`
/// transaction; the rows the last one changed.
fn in_tx(c: &mut Connection, statements: &[&str], arg: &str) -> Result<usize> {
    let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut last = 0;
    for s in statements {
        last = tx.execute(&for_sqlite(s), [arg])?;
    }
    tx.commit()?;
    Ok(last)
}

#[async_trait::async_trait]
impl Accounts for SqliteStore {
    async fn partners(&self) -> Result<Vec<PartnerDetail>> {
        let (rows, names) = self
            .with(|c| {
                let mut stmt = c.prepare_cached(&sql::select_partners())?;
                let rows = stmt
                    .query_map([], partner_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok((rows, user_names(c, "")?))
            })
            .await?;
        complete(rows, names)
    }

    async fn partner_detail(&self, name: &str) -> Result<Option<PartnerDetail>> {
        let (row, names) = self
            .with(|c| {
                let row = c
                    .prepare_cached(&for_sqlite(&sql::select_partner()))?
                    .query_row([name], partner_row)
                    .optional()?;
                Ok((row, user_names(c, name)?))
            })
            .await?;
        Ok(complete(row.into_iter().collect(), names)?.pop())
    }

    async fn users(&self, partner: Option<&str>) -> Result<Vec<UserDetail>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(&sql::select_users()))?;
            let rows = stmt.query_map([partner.unwrap_or("")], user_row)?;
            rows.collect()
        })
        .await
    }

    async fn user_detail(&self, username: &str) -> Result<Option<UserDetail>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&sql::select_user()))?
                .query_row([username], user_row)
                .optional()
        })
        .await
    }

    async fn set_partner_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let n = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::SET_PARTNER_DISABLED),
                    params![name, i64::from(disabled)],
                )
            })
            .await?;
        Ok(n == 1)
    }

    async fn set_partner_interfaces(&self, name: &str, interfaces: Option<&str>) -> Result<bool> {
        let n = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::SET_PARTNER_INTERFACES),
                    params![name, interfaces],
                )
            })
            .await?;
        Ok(n == 1)
    }

    async fn rotate_secret(
        &self,
        name: &str,
        new_hash: &str,
        previous_until: i64,
        now_unix: i64,
    ) -> Result<bool> {
        let n = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::ROTATE_SECRET),
                    params![name, new_hash, previous_until, now_unix],
                )
            })
            .await?;
        Ok(n == 1)
    }

    async fn partner_data(&self, name: &str) -> Result<DataCounts> {
        self.with(|c| counts(c, name)).await
    }

    async fn remove_partner(
        &self,
        name: &str,
        with_data: bool,
    ) -> Result<std::result::Result<bool, DataCounts>> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            if !with_data {
                let data = counts(&tx, name)?;
                if !data.is_empty() {
                    return Ok(Err(data));
                }
            }
            let statements = if with_data {
                sql::DELETE_PARTNER_DATA
            } else {
                &[]
            };
            let mut last = 0;
            for s in statements.iter().chain(sql::DELETE_PARTNER) {
                last = tx.execute(&for_sqlite(s), [name])?;
            }
            tx.commit()?;
            Ok(Ok(last == 1))
        })
    }

    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool> {
        let n = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::SET_USER_DISABLED),
                    params![username, i64::from(disabled)],
                )
            })
            .await?;
        Ok(n == 1)
    }

    async fn set_password(&self, username: &str, hash: &str, now_unix: i64) -> Result<bool> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                &for_sqlite(sql::SET_PASSWORD),
                params![username, hash, now_unix],
            )?;
            tx.execute(&for_sqlite(sql::DELETE_USER_TOKENS), [username])?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    async fn remove_user(&self, username: &str) -> Result<bool> {
        let mut conn = self.conn.lock().await;
        let n = blocking(|| {
            in_tx(
                &mut conn,
                &[
                    sql::DELETE_USER_TOKENS,
                    sql::DELETE_USER_KEYS,
                    sql::DELETE_USER,
                ],
                username,
            )
        })?;
        Ok(n == 1)
    }

    async fn tokens(
        &self,
        partner: Option<&str>,
        user: Option<&str>,
        now_unix: i64,
    ) -> Result<Vec<TokenDetail>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(&sql::select_tokens()))?;
            let rows = stmt.query_map(
                params![partner.unwrap_or(""), user.unwrap_or(""), now_unix],
                token_row,
            )?;
            rows.collect()
        })
        .await
    }

    async fn revoke_tokens(&self, which: &TokenScope<'_>) -> Result<u64> {
        let (q, arg) = sql::revoke(which);
        let n = self.with(|c| c.execute(&for_sqlite(q), [arg])).await?;
        Ok(n as u64)
    }

    async fn touch_token(&self, hash: &str, now_unix: i64) -> Result<()> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::TOUCH_TOKEN))?
                .execute(params![hash, now_unix])
        })
        .await?;
        Ok(())
    }
}
