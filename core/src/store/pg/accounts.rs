//! Partners', users' and tokens' lifecycle on PostgreSQL (SQL in `store::accounts`). A
//! removal is one transaction (a partner's locks its row first).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use crate::error::Result;
use crate::store::accounts::{self as sql, *};
use crate::store::sqlite::parse_interfaces;

fn partner_row(r: &Row) -> Result<PartnerDetail> {
    Ok(PartnerDetail {
        name: r.get(0),
        interfaces: parse_interfaces(r.get(1))?,
        disabled: r.get::<_, i64>(2) != 0,
        created_unix: r.get(3),
        secret_rotated_unix: r.get(4),
        previous_secret_until: r.get(5),
        users: Vec::new(),
    })
}

fn user_row(r: &Row) -> UserDetail {
    UserDetail {
        username: r.get(0),
        partner: r.get(1),
        disabled: r.get::<_, i64>(2) != 0,
        created_unix: r.get(3),
        password_changed_unix: r.get(4),
        keys: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
    }
}

fn token_row(r: &Row) -> TokenDetail {
    TokenDetail {
        id: r.get(0),
        kind: r.get(1),
        partner: r.get(2),
        username: r.get(3),
        issued_unix: r.get(4),
        expires_unix: r.get(5),
        last_used_unix: r.get(6),
    }
}

/// Attach each partner's users ((partner, username) rows).
fn with_users(mut partners: Vec<PartnerDetail>, names: &[Row]) -> Vec<PartnerDetail> {
    for p in &mut partners {
        p.users = names
            .iter()
            .filter(|r| r.get::<_, &str>(0) == p.name)
            .map(|r| r.get::<_, String>(1))
            .collect();
    }
    partners
}

async fn counts(c: &impl GenericClient, name: &str) -> Result<DataCounts> {
    let mut found = Vec::new();
    for (what, q) in sql::PARTNER_DATA {
        let n: i64 = c.query_one(*q, &[&name]).await?.get(0);
        if n > 0 {
            found.push((*what, n as u64));
        }
    }
    Ok(found)
}

#[async_trait::async_trait]
impl Accounts for PgStore {
    async fn partners(&self) -> Result<Vec<PartnerDetail>> {
        let c = self.pool.get().await?;
        let rows = c.query(&sql::select_partners(), &[]).await?;
        let names = c.query(sql::SELECT_USER_NAMES, &[&""]).await?;
        let partners = rows.iter().map(partner_row).collect::<Result<Vec<_>>>()?;
        Ok(with_users(partners, &names))
    }

    async fn partner_detail(&self, name: &str) -> Result<Option<PartnerDetail>> {
        let c = self.pool.get().await?;
        let Some(row) = c.query_opt(&sql::select_partner(), &[&name]).await? else {
            return Ok(None);
        };
        let names = c.query(sql::SELECT_USER_NAMES, &[&name]).await?;
        Ok(with_users(vec![partner_row(&row)?], &names).pop())
    }

    async fn users(&self, partner: Option<&str>) -> Result<Vec<UserDetail>> {
        let c = self.pool.get().await?;
        let rows = c
            .query(&sql::select_users(), &[&partner.unwrap_or("")])
            .await?;
        Ok(rows.iter().map(user_row).collect())
    }

    async fn user_detail(&self, username: &str) -> Result<Option<UserDetail>> {
        let c = self.pool.get().await?;
        let row = c.query_opt(&sql::select_user(), &[&username]).await?;
        Ok(row.as_ref().map(user_row))
    }

    async fn set_partner_disabled(&self, name: &str, disabled: bool) -> Result<bool> {
        let c = self.pool.get().await?;
        let n = c
            .execute(sql::SET_PARTNER_DISABLED, &[&name, &i64::from(disabled)])
            .await?;
        Ok(n == 1)
    }

    async fn set_partner_interfaces(&self, name: &str, interfaces: Option<&str>) -> Result<bool> {
        let c = self.pool.get().await?;
        let n = c
            .execute(sql::SET_PARTNER_INTERFACES, &[&name, &interfaces])
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
        let c = self.pool.get().await?;
        let n = c
            .execute(
                sql::ROTATE_SECRET,
                &[&name, &new_hash, &previous_until, &now_unix],
            )
            .await?;
        Ok(n == 1)
    }

    async fn partner_data(&self, name: &str) -> Result<DataCounts> {
        let c = self.pool.get().await?;
        counts(&c, name).await
    }

    async fn remove_partner(
        &self,
        name: &str,
        with_data: bool,
    ) -> Result<std::result::Result<bool, DataCounts>> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Removals of one partner serialize here; its logins read the row without waiting.
        if tx
            .query_opt(
                "SELECT name FROM partners WHERE name = $1 FOR UPDATE",
                &[&name],
            )
            .await?
            .is_none()
        {
            return Ok(Ok(false));
        }
        if !with_data {
            let data = counts(&tx, name).await?;
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
            last = tx.execute(*s, &[&name]).await?;
        }
        tx.commit().await?;
        Ok(Ok(last == 1))
    }

    async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<bool> {
        let c = self.pool.get().await?;
        let n = c
            .execute(sql::SET_USER_DISABLED, &[&username, &i64::from(disabled)])
            .await?;
        Ok(n == 1)
    }

    async fn set_password(&self, username: &str, hash: &str, now_unix: i64) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let n = tx
            .execute(sql::SET_PASSWORD, &[&username, &hash, &now_unix])
            .await?;
        tx.execute(sql::DELETE_USER_TOKENS, &[&username]).await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn remove_user(&self, username: &str) -> Result<bool> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        let mut last = 0;
        for s in [
            sql::DELETE_USER_TOKENS,
            sql::DELETE_USER_KEYS,
            sql::DELETE_USER,
        ] {
            last = tx.execute(s, &[&username]).await?;
        }
        tx.commit().await?;
        Ok(last == 1)
    }

    async fn tokens(
        &self,
        partner: Option<&str>,
        user: Option<&str>,
        now_unix: i64,
    ) -> Result<Vec<TokenDetail>> {
        let c = self.pool.get().await?;
        let rows = c
            .query(
                &sql::select_tokens(),
                &[&partner.unwrap_or(""), &user.unwrap_or(""), &now_unix],
            )
            .await?;
        Ok(rows.iter().map(token_row).collect())
    }

    async fn revoke_tokens(&self, which: &TokenScope<'_>) -> Result<u64> {
        let (q, arg) = sql::revoke(which);
        let c = self.pool.get().await?;
        Ok(c.execute(q, &[&arg]).await?)
    }

    async fn touch_token(&self, hash: &str, now_unix: i64) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::TOUCH_TOKEN).await?;
        c.execute(&stmt, &[&hash, &now_unix]).await?;
        Ok(())
    }
}
