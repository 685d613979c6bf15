//! The PostgreSQL store, through deadpool-postgres. Used when `WHARF_DATABASE_URL` is set.
//!
//! Sequences of one batch serialize on the batch row (`SELECT … FOR UPDATE`). Applies take a
//! transaction-scoped advisory lock on their scope: exclusive for `all` (it replaces the whole
//! set, so nothing may interleave), shared for the others (they touch only their own keys,
//! written in key order so two batches meet rows in the same order).

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::sql;
use super::versions::LIVE;
use super::*;
use crate::error::CoreError;

mod accounts;
mod audit;
mod defender;
mod feed;
mod outbox;
mod principals;
mod sheets;
pub mod tls;
mod views;
mod webhooks;

pub use tls::{Database, Origin, Roots, SslMode, TlsEnv};

/// Fixed key for the migration advisory lock: replicas starting together migrate once.
const MIGRATION_LOCK: i64 = 0x7768_6172_6601;

pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connect to `url` (postgres://…, its TLS settings as query parameters only), check it
    /// answers, and run migrations.
    pub async fn connect(url: &str, max_connections: usize) -> Result<PgStore> {
        let db = Database::new(url, &TlsEnv::default())
            .map_err(|errors| CoreError::Invalid(errors.join("; ")))?;
        Self::connect_to(&db, max_connections).await
    }

    /// Connect to `db`, check it answers (a failure says why in words that name the setting
    /// to change, never the password), and run migrations.
    pub async fn connect_to(db: &Database, max_connections: usize) -> Result<PgStore> {
        let store = Self::pool(db.config(), db.connector()?, max_connections)?;
        // The first connection, on its own: its failure is explained (TLS, refusals).
        drop(store.pool.get().await.map_err(|e| db.explain(&e))?);
        store.migrate().await?;
        Ok(store)
    }

    /// Whether `db` holds a wharf store (its migrations table), without creating or changing
    /// anything: the admin commands never make a new store.
    pub async fn has_store(db: &Database) -> Result<bool> {
        let store = Self::pool(db.config(), db.connector()?, 2)?;
        let client = store.pool.get().await.map_err(|e| db.explain(&e))?;
        let row = client
            .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
            .await?;
        Ok(row.get(0))
    }

    /// The rows of query `q` (`$1..$3`: a scope).
    async fn scope_rows(&self, q: &str, scope: &Scope) -> Result<Vec<tokio_postgres::Row>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(q).await?;
        Ok(
            c.query(&stmt, &[&scope.partner, &scope.env.as_str(), &scope.iface])
                .await?,
        )
    }

    /// The row of query `q` (`$1..$4`: a scope and a name), if there is one.
    async fn named_row(
        &self,
        q: &str,
        scope: &Scope,
        name: &str,
    ) -> Result<Option<tokio_postgres::Row>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(q).await?;
        Ok(c.query_opt(
            &stmt,
            &[&scope.partner, &scope.env.as_str(), &scope.iface, &name],
        )
        .await?)
    }

    /// Run statement `q` (`$1..$4`: a scope and a name): whether it changed a row.
    async fn named_change(&self, q: &str, scope: &Scope, name: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(q).await?;
        let n = c
            .execute(
                &stmt,
                &[&scope.partner, &scope.env.as_str(), &scope.iface, &name],
            )
            .await?;
        Ok(n == 1)
    }

    /// The pool, not yet migrated.
    fn pool(
        mut cfg: tokio_postgres::Config,
        tls: tokio_postgres_rustls::MakeRustlsConnect,
        max_connections: usize,
    ) -> Result<PgStore> {
        // Plan every execution with its real parameters: a cached generic plan cannot know
        // that one partner may hold millions of rows while another holds ten. (A sequence's
        // own statements are the exception: see `GENERIC_PLANS`.)
        let options = match cfg.get_options() {
            Some(o) => format!("{o} -c plan_cache_mode=force_custom_plan"),
            None => "-c plan_cache_mode=force_custom_plan".to_string(),
        };
        cfg.options(options);
        let mgr = Manager::from_config(
            cfg,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(max_connections.max(2))
            .build()
            .map_err(|e| CoreError::Store(format!("postgresql pool: {e}")))?;
        Ok(PgStore { pool })
    }

    async fn migrate(&self) -> Result<()> {
        self.migrate_to(i64::MAX).await
    }

    /// Apply the migrations up to version `last` that the database has not had yet.
    async fn migrate_to(&self, last: i64) -> Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(sql::CREATE_MIGRATIONS).await?;
        for (version, ddl) in sql::MIGRATIONS.iter().filter(|(v, _)| *v <= last) {
            let done = tx.query_opt(sql::MIGRATION_DONE, &[version]).await?;
            if done.is_none() {
                tx.batch_execute(
                    &ddl.replace("{PK}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
                        .replace("{BYTES}", "COLLATE \"C\"")
                        .replace("{BLOB}", "BYTEA")
                        .replace("{CASCADE}", " CASCADE"),
                )
                .await?;
                tx.execute(sql::RECORD_MIGRATION, &[version, &crate::clock::now_unix()])
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Columns for tokio_postgres::Row {
    fn text(&self, at: usize) -> Result<String> {
        Ok(self.try_get(at)?)
    }
    fn int(&self, at: usize) -> Result<i64> {
        Ok(self.try_get(at)?)
    }
    fn opt_int(&self, at: usize) -> Result<Option<i64>> {
        Ok(self.try_get(at)?)
    }
}

fn rejection_from_row(r: &tokio_postgres::Row) -> RejectionRow {
    RejectionRow {
        seq_id: r.get(0),
        answer: r.get(1),
    }
}

struct PgTx {
    /// `None` once committed.
    client: Option<Object>,
    /// Change-feed events to number and record just before the commit.
    events: Vec<super::feed::Pending>,
    /// Webhook events whose deliveries are written at the commit.
    hooks: Vec<super::webhooks::Event>,
}

impl PgTx {
    fn c(&self) -> Result<&Object> {
        self.client
            .as_ref()
            .ok_or_else(|| CoreError::Store("transaction already finished".into()))
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(obj) = self.client.take() {
            // Never hand a connection with an open transaction back to the pool: detach it;
            // closing it makes the server roll the transaction back.
            drop(Object::take(obj));
        }
    }
}

/// A sequence's own statements (the batch lock, the dedupe probes, the staging, the dedupe
/// and count records) look up by unique keys, or one index probe per key by construction, so
/// a cached generic plan serves them as well as a custom one, without planning each
/// 500-element array again: `lock_batch`, which only a sequence takes, switches its
/// transaction to generic plans, and an apply (whose plans depend on how much the partner
/// holds) switches back first. Every other transaction keeps the connections'
/// `force_custom_plan` (see [`PgStore::pool`]). Each is pipelined: no round trip of its own.
const GENERIC_PLANS: &str = "SET LOCAL plan_cache_mode = auto";
const CUSTOM_PLANS: &str = "SET LOCAL plan_cache_mode = force_custom_plan";

#[async_trait]
impl Tx for PgTx {
    async fn lock_batch(
        &mut self,
        scope: &Scope,
        batch_id: &str,
        seq_id: &str,
        init: &NewBatch,
    ) -> Result<(BatchRow, Option<SeqRow>)> {
        let c = self.c()?;
        let batch_size = init.batch_size as i64;
        let env = scope.env.as_str();
        let ins = c.prepare_cached(sql::INSERT_BATCH).await?;
        let sel = c
            .prepare_cached(&format!("{} FOR UPDATE", sql::select_batch()))
            .await?;
        let seq = c.prepare_cached(sql::SELECT_SEQUENCE).await?;
        // Pipelined: one round trip; the server runs them in order, so the sequence is read
        // under the batch lock.
        let (op, transport) = (init.op.as_str(), init.transport.as_str());
        let ins_params: [&(dyn ToSql + Sync); 10] = [
            &scope.partner,
            &env,
            &scope.iface,
            &batch_id,
            &op,
            &batch_size,
            &transport,
            &init.creator,
            &init.now_unix,
            &init.source,
        ];
        let sel_params: [&(dyn ToSql + Sync); 4] = [&scope.partner, &env, &scope.iface, &batch_id];
        let seq_params: [&(dyn ToSql + Sync); 5] =
            [&scope.partner, &env, &scope.iface, &batch_id, &seq_id];
        let (_, _, row, seq_row) = tokio::try_join!(
            c.batch_execute(GENERIC_PLANS),
            c.execute(&ins, &ins_params),
            c.query_one(&sel, &sel_params),
            c.query_opt(&seq, &seq_params),
        )?;
        let seq = seq_row.map(|r| SeqRow {
            accepted: r.get::<_, i64>(0) != 0,
            attempts: r.get::<_, i64>(1) as u32,
            fingerprint: r.get(2),
        });
        Ok((batch_from(&row)?, seq))
    }

    async fn reinit_batch(&mut self, pk: i64, init: &NewBatch, drop_sequences: bool) -> Result<()> {
        let c = self.c()?;
        if drop_sequences {
            for q in versions::DROP_BATCH_VERSIONS {
                c.execute(q, &[&pk]).await?;
            }
            c.execute(sql::DROP_SEQUENCES, &[&pk]).await?;
        }
        let batch_size = init.batch_size as i64;
        let stmt = c.prepare_cached(sql::REINIT_BATCH).await?;
        let revert_status = if init.schedule.revert_unix.is_some() {
            "idle"
        } else {
            ""
        };
        c.execute(
            &stmt,
            &[
                &pk,
                &init.op.as_str(),
                &batch_size,
                &init.transport.as_str(),
                &init.creator,
                &init.now_unix,
                &init.source,
                &init.transport.batch_source(),
                &i64::from(init.schedule.instant),
                &init.schedule.execute_unix,
                &init.schedule.revert_unix,
                &revert_status,
                &i64::from(init.check_only),
                &init.seen_pos,
            ],
        )
        .await?;
        Ok(())
    }

    async fn lock_existing(&mut self, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>> {
        let c = self.c()?;
        let stmt = c
            .prepare_cached(&format!("{} FOR UPDATE", sql::select_batch()))
            .await?;
        let row = c
            .query_opt(
                &stmt,
                &[&scope.partner, &scope.env.as_str(), &scope.iface, &batch_id],
            )
            .await?;
        row.as_ref().map(|r| batch_from(r)).transpose()
    }

    async fn record_rejection(
        &mut self,
        pk: i64,
        seq_id: &str,
        answer: &[u8],
        now_unix: i64,
    ) -> Result<u32> {
        let c = self.c()?;
        let stmt = c.prepare_cached(sql::COUNT_REJECTION).await?;
        let row = c
            .query_one(&stmt, &[&pk, &seq_id, &now_unix, &answer])
            .await?;
        Ok(row.get::<_, i64>(0) as u32)
    }

    async fn rejections(&mut self, pk: i64) -> Result<Vec<RejectionRow>> {
        let c = self.c()?;
        let stmt = c.prepare_cached(sql::SELECT_REJECTIONS).await?;
        Ok(c.query(&stmt, &[&pk])
            .await?
            .iter()
            .map(rejection_from_row)
            .collect())
    }

    async fn drop_staged(&mut self, pk: i64) -> Result<()> {
        let c = self.c()?;
        for q in versions::DROP_BATCH_VERSIONS {
            let stmt = c.prepare_cached(q).await?;
            c.execute(&stmt, &[&pk]).await?;
        }
        Ok(())
    }

    async fn taken(
        &mut self,
        scope: &Scope,
        pk: i64,
        rkeys: &[&str],
        uids: &[&str],
        in_records: bool,
    ) -> Result<(Vec<String>, Vec<String>, i64)> {
        let c = self.c()?;
        let env = scope.env.as_str();
        // One index probe per wanted key, by construction: a LATERAL subquery with LIMIT is
        // never turned into a join the planner could drive from the table side (a generic plan
        // once scanned a partner's whole data set per sequence). The wanted key takes the
        // column's collation (rkey is byte-ordered, "C") so the index applies. A hit is a
        // version of this batch, or (`$6`) a current record.
        let probe = |col: &str, coll: &str| {
            format!(
                "SELECT k.v FROM unnest($4::text[]) AS k(v), LATERAL (SELECT 1 FROM record_versions v \
                 WHERE v.partner = $1 AND v.env = $2 AND v.iface = $3 AND v.{col} = k.v {coll} \
                 AND (v.batch_pk = $5 OR ($6 AND {LIVE})) LIMIT 1) hit"
            )
        };
        let (head, by_key, by_uid) = (
            c.prepare_cached(versions::FEED_HEAD).await?,
            c.prepare_cached(&probe("rkey", "COLLATE \"C\"")).await?,
            c.prepare_cached(&probe("uid", "")).await?,
        );
        let none = || async { Ok::<_, tokio_postgres::Error>(Vec::new()) };
        // Pipelined: the head and both look-ups cost one round trip; the head is read first,
        // so whatever commits after it is numbered after it.
        let (head, keys, uid_hits) = tokio::try_join!(
            c.query_one(&head, &[]),
            async {
                if rkeys.is_empty() {
                    none().await
                } else {
                    c.query(
                        &by_key,
                        &[&scope.partner, &env, &scope.iface, &rkeys, &pk, &in_records],
                    )
                    .await
                }
            },
            async {
                if uids.is_empty() {
                    none().await
                } else {
                    c.query(
                        &by_uid,
                        &[&scope.partner, &env, &scope.iface, &uids, &pk, &in_records],
                    )
                    .await
                }
            },
        )?;
        let col = |rows: Vec<tokio_postgres::Row>| rows.into_iter().map(|r| r.get::<_, String>(0));
        Ok((
            col(keys).collect(),
            col(uid_hits).collect(),
            head.try_get(0)?,
        ))
    }

    async fn stage(
        &mut self,
        b: &BatchRow,
        seq_id: &str,
        fingerprint: &str,
        rows: &[StageRow<'_>],
        now_unix: i64,
    ) -> Result<()> {
        let c = self.c()?;
        let (pk, seq_no, scope) = (b.pk, i64::from(b.sequences), b.scope());
        let idx: Vec<i64> = rows.iter().map(|r| i64::from(r.idx)).collect();
        let rkeys: Vec<Option<&str>> = rows.iter().map(|r| r.rkey).collect();
        let uids: Vec<Option<&str>> = rows.iter().map(|r| r.uid).collect();
        let data: Vec<&str> = rows.iter().map(|r| r.data).collect();
        let ins = c
            .prepare_cached(&format!(
                "{} SELECT $1, $2, $3, $4, $5, u.idx, u.rkey, u.uid, u.data \
                 FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[]) AS u(idx, rkey, uid, data)",
                versions::STAGE_COLUMNS
            ))
            .await?;
        let accept = c.prepare_cached(sql::ACCEPT_SEQUENCE).await?;
        let count = c.prepare_cached(sql::COUNT_STAGED).await?;
        let env = scope.env.as_str();
        let params: [&(dyn ToSql + Sync); 9] = [
            &scope.partner,
            &env,
            &scope.iface,
            &pk,
            &seq_no,
            &idx,
            &rkeys,
            &uids,
            &data,
        ];
        let added = rows.len() as i64;
        // Pipelined: one round trip for the rows, the dedupe record and the count.
        let accept_params: [&(dyn ToSql + Sync); 5] =
            [&pk, &seq_id, &seq_no, &now_unix, &fingerprint];
        let count_params: [&(dyn ToSql + Sync); 3] = [&pk, &added, &now_unix];
        tokio::try_join!(
            c.execute(&ins, &params),
            c.execute(&accept, &accept_params),
            c.execute(&count, &count_params),
        )?;
        Ok(())
    }

    async fn set_state(
        &mut self,
        pk: i64,
        state: BatchState,
        failure: Option<(&str, &str)>,
        now_unix: i64,
    ) -> Result<()> {
        let (code, msg) = failure.unwrap_or(("", ""));
        let c = self.c()?;
        let stmt = c.prepare_cached(sql::SET_STATE).await?;
        c.execute(&stmt, &[&pk, &state.as_str(), &code, &msg, &now_unix])
            .await?;
        Ok(())
    }

    async fn save_batch(&mut self, b: &BatchRow, now_unix: i64) -> Result<()> {
        let c = self.c()?;
        let p = &b.proposal;
        let stmt = c.prepare_cached(sql::SAVE_BATCH).await?;
        c.execute(
            &stmt,
            &[
                &b.pk,
                &b.state.as_str(),
                &b.failure_code,
                &b.failure_msg,
                &now_unix,
                &p.schedule.execute_unix,
                &status_text(p.execute_status),
                &p.executor,
                &p.execute_detail,
                &p.schedule.revert_unix,
                &status_text(p.revert_status),
                &p.reverter,
                &p.revert_detail,
                &p.modifier,
            ],
        )
        .await?;
        Ok(())
    }

    async fn claim_due(&mut self, now_unix: i64) -> Result<Option<BatchRow>> {
        let c = self.c()?;
        // SKIP LOCKED: a batch another replica (or a user's action) holds is its business;
        // this one takes the next due batch instead of waiting.
        let stmt = c
            .prepare_cached(&format!("{} FOR UPDATE SKIP LOCKED", sql::select_due()))
            .await?;
        let row = c.query_opt(&stmt, &[&now_unix]).await?;
        row.as_ref().map(|r| batch_from(r)).transpose()
    }

    async fn revert(
        &mut self,
        scope: &Scope,
        pk: i64,
        op: Operation,
        max_listed: u32,
    ) -> Result<Reverted> {
        let c = self.c()?;
        let env = scope.env.as_str();
        // A revert touches any key the batch wrote or removed: nothing else may apply to the
        // scope meanwhile (the same exclusive lock as an `all` apply).
        c.execute(
            "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2 || '/' || $3))",
            &[&scope.partner, &env, &scope.iface],
        )
        .await?;
        let q = sql::revert_sql(op);
        let limit = i64::from(max_listed);
        let listed: [&(dyn ToSql + Sync); 5] = [&scope.partner, &env, &scope.iface, &pk, &limit];
        let counted: [&(dyn ToSql + Sync); 4] = [&scope.partner, &env, &scope.iface, &pk];
        let (lost, retaken, lost_n, retaken_n) = tokio::try_join!(
            c.query(&q.lost, &listed),
            c.query(&q.retaken, &listed),
            c.query_one(&q.lost_count, &counted),
            c.query_one(&q.retaken_count, &counted),
        )?;
        let mut conflicts: Vec<String> = lost
            .iter()
            .chain(retaken.iter())
            .map(|r| r.get::<_, String>(0))
            .collect();
        conflicts.sort();
        conflicts.truncate(max_listed as usize);
        let conflict_count = (lost_n.get::<_, i64>(0) + retaken_n.get::<_, i64>(0)) as u64;
        for text in &q.statements {
            let stmt = c.prepare_cached(text).await?;
            c.execute(&stmt, &counted).await?;
        }
        Ok(Reverted::Done {
            conflicts,
            conflict_count,
        })
    }

    async fn apply(&mut self, scope: &Scope, pk: i64, op: Operation) -> Result<Applied> {
        let c = self.c()?;
        let env = scope.env.as_str();
        // Applies and reverts of a scope run one at a time: each checks the keys against
        // the records the one before it left.
        let lock_params: [&(dyn ToSql + Sync); 3] = [&scope.partner, &env, &scope.iface];
        tokio::try_join!(
            c.batch_execute(CUSTOM_PLANS),
            c.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2 || '/' || $3))",
                &lock_params,
            ),
        )?;
        let params: [&(dyn ToSql + Sync); 4] = [&scope.partner, &env, &scope.iface, &pk];
        let check = op == Operation::Insert && {
            let stmt = c.prepare_cached(versions::KEYS_MAY_BE_TAKEN).await?;
            c.query_one(&stmt, &params).await?.try_get::<_, i64>(0)? > 0
        };
        if check {
            let (keys, uids) = (
                c.prepare_cached(&sql::clashes("rkey")).await?,
                c.prepare_cached(&sql::clashes("uid")).await?,
            );
            let (k, u) =
                tokio::try_join!(c.query_one(&keys, &params), c.query_one(&uids, &params))?;
            if k.try_get::<_, i64>(0)? + u.try_get::<_, i64>(0)? > 0 {
                let limit = i64::from(MAX_LISTED_CLASHES);
                let rows = c
                    .query(
                        sql::CLASHING_ROWS,
                        &[&scope.partner, &env, &scope.iface, &pk, &limit, &1i32],
                    )
                    .await?;
                let mut clashes = Vec::with_capacity(rows.len());
                for r in rows {
                    clashes.push(ClashRow {
                        seq_id: r.try_get(0)?,
                        idx: u32::try_from(r.try_get::<_, i64>(1)?).unwrap_or(0),
                        data: r.try_get(2)?,
                        by_key: r.try_get::<_, i32>(3)? != 0,
                    });
                }
                return Ok(Applied::KeyClash(clashes));
            }
        }
        let mut counts = Vec::new();
        for text in sql::apply_statements(op) {
            let stmt = c.prepare_cached(&text).await?;
            counts.push(c.execute(&stmt, &params).await?);
        }
        Ok(Applied::Done {
            deleted: sql::deleted_by(op)
                .and_then(|i| counts.get(i).copied())
                .unwrap_or(0),
        })
    }

    async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        self.c()?
            .batch_execute(&format!("SAVEPOINT {name}"))
            .await?;
        Ok(())
    }

    async fn rollback_to(&mut self, name: &'static str) -> Result<()> {
        self.c()?
            .batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"
            ))
            .await?;
        Ok(())
    }

    async fn feed_event(&mut self, b: &BatchRow, kind: super::feed::Kind, now_unix: i64) {
        self.events
            .push(super::feed::Pending::new(b, kind, now_unix));
    }

    async fn audit(&mut self, row: &super::audit::AuditRow) -> Result<()> {
        self.append_audit(row).await
    }

    async fn webhook_event(&mut self, e: &super::webhooks::Event) -> Result<()> {
        self.hooks.push(e.clone());
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        // The webhooks' head, then the feed's: always in this order.
        self.enqueue_webhooks().await?;
        // Numbered last: the feed's head is locked from here to the commit only, and no
        // other lock is taken while it is held.
        for e in std::mem::take(&mut self.events) {
            self.append_event(&e).await?;
        }
        let c = self.c()?;
        c.batch_execute("COMMIT").await?;
        // Committed: the connection goes back to the pool instead of being detached.
        drop(self.client.take());
        Ok(())
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgresql"
    }

    fn outbox(&self) -> &dyn super::outbox::Outbox {
        self
    }

    fn accounts(&self) -> &dyn super::accounts::Accounts {
        self
    }

    fn defender(&self) -> &dyn super::defender::Defender {
        self
    }

    fn audit(&self) -> &dyn super::audit::AuditLog {
        self
    }

    fn feed(&self) -> &dyn super::feed::FeedLog {
        self
    }

    fn principals(&self) -> &dyn super::principals::Principals {
        self
    }

    fn sheets(&self) -> &dyn super::sheets::Sheets {
        self
    }

    fn webhooks(&self) -> &dyn super::webhooks::Webhooks {
        self
    }

    async fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        let client = self.pool.get().await?;
        client.batch_execute("BEGIN").await?;
        Ok(Box::new(PgTx {
            events: Vec::new(),
            hooks: Vec::new(),
            client: Some(client),
        }))
    }

    async fn insert_partner(&self, p: &PartnerRow, now_unix: i64) -> Result<()> {
        let interfaces = p
            .interfaces
            .as_ref()
            .map(|i| serde_json::to_string(i).unwrap_or_default());
        let c = self.pool.get().await?;
        let res = c
            .execute(
                sql::INSERT_PARTNER,
                &[&p.name, &p.secret_hash, &interfaces, &now_unix],
            )
            .await;
        map_insert(res, || format!("partner {}", p.name))
    }

    async fn partner(&self, name: &str) -> Result<Option<PartnerRow>> {
        let c = self.pool.get().await?;
        // Asked on every sequence: keep it prepared.
        let stmt = c.prepare_cached(sql::SELECT_PARTNER).await?;
        let row = c.query_opt(&stmt, &[&name]).await?;
        row.map(|r| {
            Ok(PartnerRow {
                name: r.get(0),
                secret_hash: r.get(1),
                interfaces: super::sqlite::parse_interfaces(r.get(2))?,
                disabled: r.get::<_, i64>(3) != 0,
                prev_secret_hash: r.get(4),
                prev_secret_until: r.get(5),
            })
        })
        .transpose()
    }

    async fn insert_user(&self, u: &UserRow, now_unix: i64) -> Result<()> {
        let c = self.pool.get().await?;
        let res = c
            .execute(
                sql::INSERT_USER,
                &[&u.username, &u.partner, &u.password_hash, &now_unix],
            )
            .await;
        map_insert(res, || format!("user {}", u.username))
    }

    async fn user(&self, username: &str) -> Result<Option<UserRow>> {
        let c = self.pool.get().await?;
        let row = c.query_opt(sql::SELECT_USER, &[&username]).await?;
        Ok(row.map(|r| UserRow {
            username: r.get(0),
            partner: r.get(1),
            password_hash: r.get(2),
            disabled: r.get::<_, i64>(3) != 0,
        }))
    }

    async fn insert_token(&self, hash: &str, t: &TokenRow) -> Result<()> {
        let c = self.pool.get().await?;
        c.execute(
            sql::INSERT_TOKEN,
            &[
                &hash,
                &t.partner,
                &t.username,
                &t.expires_unix,
                &t.kind,
                &t.id,
                &t.issued_unix,
            ],
        )
        .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRow>> {
        let c = self.pool.get().await?;
        let row = c.query_opt(sql::SELECT_TOKEN, &[&hash]).await?;
        Ok(row.map(|r| TokenRow {
            partner: r.get(0),
            username: r.get(1),
            expires_unix: r.get(2),
            kind: r.get(3),
            id: r.get(4),
            issued_unix: r.get(5),
            last_used_unix: r.get(6),
        }))
    }

    async fn delete_token(&self, hash: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::DELETE_TOKEN, &[&hash]).await? == 1)
    }

    async fn purge_tokens(&self, now_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::PURGE_TOKENS, &[&now_unix]).await?)
    }

    async fn batch(&self, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_batch()).await?;
        let row = c
            .query_opt(
                &stmt,
                &[&scope.partner, &scope.env.as_str(), &scope.iface, &batch_id],
            )
            .await?;
        row.as_ref().map(|r| batch_from(r)).transpose()
    }

    async fn rejections(&self, pk: i64) -> Result<Vec<RejectionRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::SELECT_REJECTIONS).await?;
        Ok(c.query(&stmt, &[&pk])
            .await?
            .iter()
            .map(rejection_from_row)
            .collect())
    }

    async fn staged_count(&self, pk: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        let row = c.query_one(sql::COUNT_STAGED_ROWS, &[&pk]).await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    async fn user_batches(
        &self,
        partner: &str,
        creator: &str,
        before_pk: i64,
        limit: u32,
    ) -> Result<Vec<BatchRow>> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&sql::select_user_batches()).await?;
        let limit = i64::from(limit);
        c.query(&stmt, &[&partner, &creator, &before_pk, &limit])
            .await?
            .iter()
            .map(|r| batch_from(r))
            .collect()
    }

    async fn mark_spent(&self, since_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        Ok(c.execute(versions::MARK_SPENT, &[&since_unix]).await?)
    }

    async fn compact(&self, chunk: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        // Its own transaction: the versions it moves can no longer change (nothing makes a
        // spent or superseded version current again), so it takes no lock.
        Ok(c.execute(versions::MOVE_DEAD, &[&chunk]).await?)
    }

    async fn expire_batches(&self, before_unix: i64, now_unix: i64) -> Result<u64> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // One statement: a batch an ingest completes meanwhile is neither expired nor
        // recorded as expired (READ COMMITTED re-checks the row the UPDATE locks).
        let expired = tx
            .query(
                &format!("{}{}", audit::EXPIRE_RECORDED, super::audit::RETURNING),
                &[&before_unix, &now_unix],
            )
            .await?;
        let n = expired.len() as u64;
        let events: Vec<_> = expired
            .iter()
            .map(audit::returned)
            .filter_map(|r| super::webhooks::Event::from_audit(&r))
            .collect();
        webhooks::enqueue(&tx, &events).await?;
        if n > 0 {
            for q in versions::DROP_EXPIRED_VERSIONS {
                tx.execute(q, &[]).await?;
            }
        }
        tx.commit().await?;
        Ok(n)
    }

    async fn file(&self, scope: &Scope, name: &str) -> Result<Option<FileRow>> {
        let row = self.named_row(sql::SELECT_FILE, scope, name).await?;
        Ok(row.as_ref().map(file_from_row))
    }

    async fn insert_file(&self, scope: &Scope, f: &FileRow) -> Result<bool> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::INSERT_FILE).await?;
        let n = c
            .execute(
                &stmt,
                &[
                    &scope.partner,
                    &scope.env.as_str(),
                    &scope.iface,
                    &f.name,
                    &f.code,
                    &f.answer,
                    &f.created_unix,
                    &f.size.map(|n| n as i64),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn files(&self, scope: &Scope) -> Result<Vec<FileRow>> {
        let rows = self.scope_rows(sql::SELECT_FILES, scope).await?;
        Ok(rows.iter().map(file_from_row).collect())
    }

    async fn delete_file(&self, scope: &Scope, name: &str) -> Result<bool> {
        self.named_change(sql::DELETE_FILE, scope, name).await
    }

    async fn put_part(
        &self,
        scope: &Scope,
        name: &str,
        content: &[u8],
        now_unix: i64,
    ) -> Result<()> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::PUT_PART).await?;
        c.execute(
            &stmt,
            &[
                &scope.partner,
                &scope.env.as_str(),
                &scope.iface,
                &name,
                &content,
                &(content.len() as i64),
                &now_unix,
            ],
        )
        .await?;
        Ok(())
    }

    async fn part(&self, scope: &Scope, name: &str) -> Result<Option<(PartRow, Vec<u8>)>> {
        let row = self.named_row(sql::SELECT_PART, scope, name).await?;
        Ok(row.map(|r| (part_from_row(&r), r.get::<_, Vec<u8>>(3))))
    }

    async fn parts(&self, scope: &Scope) -> Result<Vec<PartRow>> {
        let rows = self.scope_rows(sql::SELECT_PARTS, scope).await?;
        Ok(rows.iter().map(part_from_row).collect())
    }

    async fn delete_part(&self, scope: &Scope, name: &str) -> Result<bool> {
        self.named_change(sql::DELETE_PART, scope, name).await
    }

    async fn prune_parts(&self, before_unix: i64) -> Result<u64> {
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(sql::PRUNE_PARTS).await?;
        Ok(c.execute(&stmt, &[&before_unix]).await?)
    }

    async fn insert_user_key(&self, k: &UserKeyRow) -> Result<()> {
        let c = self.pool.get().await?;
        let res = c
            .execute(
                sql::INSERT_USER_KEY,
                &[
                    &k.username,
                    &k.fingerprint,
                    &k.public_key,
                    &k.comment,
                    &k.added_unix,
                ],
            )
            .await;
        map_insert(res, || {
            format!("key {} of user {}", k.fingerprint, k.username)
        })
    }

    async fn user_keys(&self, username: &str) -> Result<Vec<UserKeyRow>> {
        let c = self.pool.get().await?;
        let rows = c.query(sql::SELECT_USER_KEYS, &[&username]).await?;
        Ok(rows
            .iter()
            .map(|r| UserKeyRow {
                username: r.get(0),
                fingerprint: r.get(1),
                public_key: r.get(2),
                comment: r.get(3),
                added_unix: r.get(4),
            })
            .collect())
    }

    async fn delete_user_key(&self, username: &str, fingerprint: &str) -> Result<bool> {
        let c = self.pool.get().await?;
        Ok(c.execute(sql::DELETE_USER_KEY, &[&username, &fingerprint])
            .await?
            == 1)
    }

    async fn host_key(&self, name: &str, new: &str, now_unix: i64) -> Result<String> {
        let c = self.pool.get().await?;
        c.execute(sql::INSERT_HOST_KEY, &[&name, &new, &now_unix])
            .await?;
        Ok(c.query_one(sql::SELECT_HOST_KEY, &[&name]).await?.get(0))
    }

    async fn records(&self, scope: &Scope) -> Result<Vec<String>> {
        let rows = self.scope_rows(sql::SELECT_RECORDS, scope).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn query_records(
        &self,
        select: &super::query::Select,
    ) -> Result<Vec<super::query::RecordRow>> {
        let (text, params) = super::query::select(select, super::query::Dialect::Postgres);
        let c = self.pool.get().await?;
        let stmt = c.prepare_cached(&text).await?;
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        Ok(c.query(&stmt, &params)
            .await?
            .iter()
            .map(|r| super::query::RecordRow {
                partner: r.get(0),
                rkey: r.get(1),
                data: r.get(2),
            })
            .collect())
    }

    async fn install_views(&self, plan: &super::views::Plan<'_>) -> Result<super::views::Report> {
        let mut c = self.pool.get().await?;
        views::install(&mut c, plan).await
    }

    async fn schema_version(&self) -> Result<i64> {
        let c = self.pool.get().await?;
        Ok(c.query_one(sql::SCHEMA_VERSION, &[]).await?.get(0))
    }

    async fn batch_counts(&self) -> Result<Vec<(BatchState, u64)>> {
        let c = self.pool.get().await?;
        c.query(sql::BATCH_COUNTS, &[])
            .await?
            .iter()
            .map(|r| state_count(r.get(0), r.get(1)))
            .collect()
    }
}

fn part_from_row(r: &tokio_postgres::Row) -> PartRow {
    PartRow {
        name: r.get(0),
        size: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
        received_unix: r.get(2),
    }
}

fn file_from_row(r: &tokio_postgres::Row) -> FileRow {
    FileRow {
        name: r.get(0),
        code: r.get(1),
        answer: r.get(2),
        created_unix: r.get(3),
        size: r.get::<_, Option<i64>>(4).map(|n| n.max(0) as u64),
    }
}

fn map_insert(
    res: Result<u64, tokio_postgres::Error>,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(CoreError::Conflict(what())),
        Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
            Err(CoreError::NotFound(format!("{} (its partner)", what())))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use tokio_postgres::NoTls;

    use super::*;

    /// A store in a schema of its own (the shared test database is untouched) migrated to
    /// `version` and holding `fixture`, then brought up to date; with a client to drop the
    /// schema after.
    async fn upgraded(version: i64, fixture: &str) -> (PgStore, tokio_postgres::Client, String) {
        let url = std::env::var("WHARF_TEST_DATABASE_URL")
            .expect("WHARF_TEST_DATABASE_URL (scripts/test starts a PostgreSQL)");
        let schema = format!(
            "upgrade_{version}_{}_{}",
            std::process::id(),
            crate::clock::now_unix()
        );
        let mut cfg = tokio_postgres::Config::from_str(&url).unwrap();
        let (client, conn) = cfg.connect(NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        cfg.options(format!("-c search_path={schema}"));
        let tls = Database::new(&url, &TlsEnv::default())
            .unwrap()
            .connector()
            .unwrap();
        let store = PgStore::pool(cfg, tls, 2).unwrap();
        store.migrate_to(version).await.unwrap();
        store
            .pool
            .get()
            .await
            .unwrap()
            .batch_execute(fixture)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, client, schema)
    }

    /// A deployment at version 2 (before sources and stored answers) is brought up to date,
    /// its batches kept.
    #[tokio::test]
    async fn a_version_2_database_migrates_to_the_latest() {
        let (store, client, schema) = upgraded(
            2,
            "INSERT INTO batches (partner, env, iface, batch_id, op, batch_size, state, \
             transport, creator, created_unix, updated_unix) \
             VALUES ('P', 'prod', 't1/bom', 'B', 'insert', 2, 'open', 'api', 'u', 1, 1)",
        )
        .await;
        let scope = Scope {
            partner: "P".into(),
            env: Environment::Prod,
            iface: "t1/bom".into(),
        };
        let b = store.batch(&scope, "B").await.unwrap().unwrap();
        assert_eq!((b.source.as_str(), b.creator.as_str()), ("", "u"));
        assert!(store.rejections(b.pk).await.unwrap().is_empty());
        let listed = store.user_batches("P", "u", i64::MAX, 10).await.unwrap();
        assert_eq!(listed.len(), 1);
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }

    /// A deployment at version 21 with records, staged rows and a journal keeps them all as
    /// versions (migration 22).
    #[tokio::test]
    async fn a_version_21_store_keeps_its_rows_as_versions() {
        let (store, client, schema) = upgraded(21, versions::V21_FIXTURE).await;
        versions::check_v21_fixture(&store).await;
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .unwrap();
    }
}
