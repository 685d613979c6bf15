//! The embedded store: one SQLite file in `WHARF_DATA_DIR`, the default when no database URL
//! is configured. One connection, serialized by an async mutex; a transaction holds it
//! from `BEGIN IMMEDIATE` to commit, so readers see a batch before or after, never between.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::sql::{self, for_sqlite};
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
mod views;
mod webhooks;

/// SQLite work is quick local I/O, but an apply of a large batch is not: let the runtime move
/// other tasks off this thread while it runs (only possible on the multi-thread runtime).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Open (creating) `dir/wharf.sqlite3` and run migrations.
    pub fn open(dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| CoreError::Store(format!("create {}: {e}", dir.display())))?;
        let conn = Connection::open(Self::file_in(dir))?;
        Self::from_connection(conn)
    }

    /// The database file of a store kept in `dir`.
    pub fn file_in(dir: &Path) -> std::path::PathBuf {
        dir.join("wharf.sqlite3")
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(mut conn: Connection) -> Result<SqliteStore> {
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA busy_timeout = 5000;",
        )?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.conn.lock().await;
        Ok(blocking(|| f(&conn))?)
    }

    /// The rows of query `q` (`$1..$3`: a scope), each read by `row`.
    async fn scope_rows<T>(
        &self,
        q: &str,
        scope: &Scope,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(q))?;
            let rows =
                stmt.query_map(params![scope.partner, scope.env.as_str(), scope.iface], row)?;
            rows.collect()
        })
        .await
    }

    /// The row of query `q` (`$1..$4`: a scope and a name), read by `row`, if there is one.
    async fn named_row<T>(
        &self,
        q: &str,
        scope: &Scope,
        name: &str,
        row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>> {
        self.with(|c| {
            c.prepare_cached(&for_sqlite(q))?
                .query_row(
                    params![scope.partner, scope.env.as_str(), scope.iface, name],
                    row,
                )
                .optional()
        })
        .await
    }

    /// Run statement `q` (`$1..$4`: a scope and a name): whether it changed a row.
    async fn named_change(&self, q: &str, scope: &Scope, name: &str) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(q))?.execute(params![
                    scope.partner,
                    scope.env.as_str(),
                    scope.iface,
                    name
                ])
            })
            .await?;
        Ok(n == 1)
    }
}

/// Run `statements` with the scope and the batch's pk as `?1..?4`: the rows each affected.
fn run(c: &Connection, statements: &[String], scope: &Scope, pk: i64) -> Result<Vec<u64>> {
    let env = scope.env.as_str();
    let mut counts = Vec::with_capacity(statements.len());
    for stmt in statements {
        let n = c.prepare_cached(&for_sqlite(stmt))?.execute(params![
            scope.partner,
            env,
            scope.iface,
            pk
        ])?;
        counts.push(n as u64);
    }
    Ok(counts)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, i64::MAX)
}

/// Apply the migrations up to version `last` that the database has not had yet.
fn migrate_to(conn: &mut Connection, last: i64) -> Result<()> {
    conn.execute_batch(&for_sqlite(sql::CREATE_MIGRATIONS))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (version, ddl) in sql::MIGRATIONS.iter().filter(|(v, _)| *v <= last) {
        let done: Option<i64> = tx
            .query_row(&for_sqlite(sql::MIGRATION_DONE), [version], |r| r.get(0))
            .optional()?;
        if done.is_none() {
            let ddl = ddl
                .replace("{PK}", "INTEGER PRIMARY KEY AUTOINCREMENT")
                .replace("{BYTES}", "COLLATE BINARY")
                .replace("{BLOB}", "BLOB")
                .replace("{CASCADE}", "");
            tx.execute_batch(&ddl)?;
            tx.execute(
                &for_sqlite(sql::RECORD_MIGRATION),
                [*version, crate::clock::now_unix()],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, at: usize) -> Result<String> {
        Ok(self.get(at)?)
    }
    fn int(&self, at: usize) -> Result<i64> {
        Ok(self.get(at)?)
    }
    fn opt_int(&self, at: usize) -> Result<Option<i64>> {
        Ok(self.get(at)?)
    }
}

/// The batches a statement returns (columns of `sql::BATCH_COLUMNS`).
fn batches(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<BatchRow>> {
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(batch_from(r)?);
    }
    Ok(out)
}

fn seq_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SeqRow> {
    Ok(SeqRow {
        accepted: r.get::<_, i64>(0)? != 0,
        attempts: r.get::<_, i64>(1)? as u32,
        fingerprint: r.get(2)?,
    })
}

fn rejection_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RejectionRow> {
    Ok(RejectionRow {
        seq_id: r.get(0)?,
        answer: r.get(1)?,
    })
}

fn select_rejections(conn: &Connection, pk: i64) -> rusqlite::Result<Vec<RejectionRow>> {
    let mut stmt = conn.prepare_cached(&for_sqlite(sql::SELECT_REJECTIONS))?;
    let rows = stmt.query_map([pk], rejection_row)?;
    rows.collect()
}

fn select_batch(conn: &Connection, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>> {
    let mut stmt = conn.prepare_cached(&for_sqlite(&sql::select_batch()))?;
    let found = batches(
        &mut stmt,
        params![scope.partner, scope.env.as_str(), scope.iface, batch_id],
    )?;
    Ok(found.into_iter().next())
}

struct SqliteTx {
    conn: OwnedMutexGuard<Connection>,
    done: bool,
    /// Change-feed events to number and record just before the commit.
    events: Vec<super::feed::Pending>,
    /// Webhook events whose deliveries are written at the commit.
    hooks: Vec<super::webhooks::Event>,
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.done {
            // Nothing else can run on this connection while we hold it; a failed rollback
            // leaves SQLite to roll back on the next BEGIN, which fails loudly.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[async_trait]
impl Tx for SqliteTx {
    async fn lock_batch(
        &mut self,
        scope: &Scope,
        batch_id: &str,
        seq_id: &str,
        init: &NewBatch,
    ) -> Result<(BatchRow, Option<SeqRow>)> {
        let c = &*self.conn;
        blocking(|| {
            c.prepare_cached(&for_sqlite(sql::INSERT_BATCH))?
                .execute(params![
                    scope.partner,
                    scope.env.as_str(),
                    scope.iface,
                    batch_id,
                    init.op.as_str(),
                    init.batch_size as i64,
                    init.transport.as_str(),
                    init.creator,
                    init.now_unix,
                    init.source
                ])?;
            let batch = select_batch(c, scope, batch_id)?
                .ok_or_else(|| CoreError::Store("batch vanished under lock".into()))?;
            let seq = c
                .prepare_cached(&for_sqlite(sql::SELECT_SEQUENCE))?
                .query_row(
                    params![
                        scope.partner,
                        scope.env.as_str(),
                        scope.iface,
                        batch_id,
                        seq_id
                    ],
                    seq_row,
                )
                .optional()?;
            Ok((batch, seq))
        })
    }

    async fn reinit_batch(&mut self, pk: i64, init: &NewBatch, drop_sequences: bool) -> Result<()> {
        let c = &*self.conn;
        blocking(|| {
            if drop_sequences {
                for q in versions::DROP_BATCH_VERSIONS {
                    c.execute(&for_sqlite(q), [pk])?;
                }
                c.execute(&for_sqlite(sql::DROP_SEQUENCES), [pk])?;
            }
            let revert_status = if init.schedule.revert_unix.is_some() {
                "idle"
            } else {
                ""
            };
            c.prepare_cached(&for_sqlite(sql::REINIT_BATCH))?
                .execute(params![
                    pk,
                    init.op.as_str(),
                    init.batch_size as i64,
                    init.transport.as_str(),
                    init.creator,
                    init.now_unix,
                    init.source,
                    init.transport.batch_source(),
                    i64::from(init.schedule.instant),
                    init.schedule.execute_unix,
                    init.schedule.revert_unix,
                    revert_status,
                    i64::from(init.check_only),
                    init.seen_pos
                ])?;
            Ok(())
        })
    }

    async fn lock_existing(&mut self, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>> {
        // BEGIN IMMEDIATE already holds the database's write lock: reading is locking.
        let c = &*self.conn;
        blocking(|| select_batch(c, scope, batch_id))
    }

    async fn record_rejection(
        &mut self,
        pk: i64,
        seq_id: &str,
        answer: &[u8],
        now_unix: i64,
    ) -> Result<u32> {
        let c = &*self.conn;
        let n: i64 = blocking(|| {
            c.prepare_cached(&for_sqlite(sql::COUNT_REJECTION))?
                .query_row(params![pk, seq_id, now_unix, answer], |r| r.get(0))
        })?;
        Ok(n as u32)
    }

    async fn rejections(&mut self, pk: i64) -> Result<Vec<RejectionRow>> {
        let c = &*self.conn;
        Ok(blocking(|| select_rejections(c, pk))?)
    }

    async fn drop_staged(&mut self, pk: i64) -> Result<()> {
        let c = &*self.conn;
        blocking(|| {
            for q in versions::DROP_BATCH_VERSIONS {
                c.prepare_cached(&for_sqlite(q))?.execute([pk])?;
            }
            Ok::<_, rusqlite::Error>(())
        })?;
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
        let c = &*self.conn;
        blocking(|| {
            let mut keys_taken = Vec::new();
            let mut uids_taken = Vec::new();
            // A hit is a version of this batch, or (`?6`) a current record.
            let probe = |col: &str| {
                format!(
                    "SELECT 1 FROM record_versions v WHERE v.partner = ?1 AND v.env = ?2 \
                     AND v.iface = ?3 AND v.{col} = ?4 AND (v.batch_pk = ?5 OR (?6 AND {LIVE})) \
                     LIMIT 1"
                )
            };
            let mut key = c.prepare_cached(&probe("rkey"))?;
            let mut uid = c.prepare_cached(&probe("uid"))?;
            let env = scope.env.as_str();
            for k in rkeys {
                if key.exists(params![scope.partner, env, scope.iface, k, pk, in_records])? {
                    keys_taken.push(k.to_string());
                }
            }
            for u in uids {
                if uid.exists(params![scope.partner, env, scope.iface, u, pk, in_records])? {
                    uids_taken.push(u.to_string());
                }
            }
            // One writer: nothing commits between this and the look-ups above.
            let head = c.query_row(versions::FEED_HEAD, [], |r| r.get(0))?;
            Ok((keys_taken, uids_taken, head))
        })
    }

    async fn stage(
        &mut self,
        b: &BatchRow,
        seq_id: &str,
        fingerprint: &str,
        rows: &[StageRow<'_>],
        now_unix: i64,
    ) -> Result<()> {
        let c = &*self.conn;
        blocking(|| {
            let mut ins = c.prepare_cached(&format!(
                "{} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                versions::STAGE_COLUMNS
            ))?;
            let (pk, seq_no) = (b.pk, b.sequences);
            for r in rows {
                ins.execute(params![
                    b.partner,
                    b.env.as_str(),
                    b.iface,
                    pk,
                    seq_no,
                    r.idx,
                    r.rkey,
                    r.uid,
                    r.data
                ])?;
            }
            c.prepare_cached(&for_sqlite(sql::ACCEPT_SEQUENCE))?
                .execute(params![pk, seq_id, seq_no, now_unix, fingerprint])?;
            c.prepare_cached(&for_sqlite(sql::COUNT_STAGED))?
                .execute(params![pk, rows.len() as i64, now_unix])?;
            Ok(())
        })
    }

    async fn set_state(
        &mut self,
        pk: i64,
        state: BatchState,
        failure: Option<(&str, &str)>,
        now_unix: i64,
    ) -> Result<()> {
        let (code, msg) = failure.unwrap_or(("", ""));
        let c = &*self.conn;
        blocking(|| {
            c.prepare_cached(&for_sqlite(sql::SET_STATE))?
                .execute(params![pk, state.as_str(), code, msg, now_unix])
        })?;
        Ok(())
    }

    async fn save_batch(&mut self, b: &BatchRow, now_unix: i64) -> Result<()> {
        let c = &*self.conn;
        let p = &b.proposal;
        blocking(|| {
            c.prepare_cached(&for_sqlite(sql::SAVE_BATCH))?
                .execute(params![
                    b.pk,
                    b.state.as_str(),
                    b.failure_code,
                    b.failure_msg,
                    now_unix,
                    p.schedule.execute_unix,
                    status_text(p.execute_status),
                    p.executor,
                    p.execute_detail,
                    p.schedule.revert_unix,
                    status_text(p.revert_status),
                    p.reverter,
                    p.revert_detail,
                    p.modifier
                ])
        })?;
        Ok(())
    }

    async fn claim_due(&mut self, now_unix: i64) -> Result<Option<BatchRow>> {
        // BEGIN IMMEDIATE holds the only write lock: whatever is read here is ours.
        let c = &*self.conn;
        blocking(|| {
            let mut stmt = c.prepare_cached(&for_sqlite(&sql::select_due()))?;
            Ok(batches(&mut stmt, [now_unix])?.into_iter().next())
        })
    }

    async fn revert(
        &mut self,
        scope: &Scope,
        pk: i64,
        op: Operation,
        max_listed: u32,
    ) -> Result<Reverted> {
        let c = &*self.conn;
        let q = sql::revert_sql(op);
        blocking(|| {
            let env = scope.env.as_str();
            let keys = |text: &str| -> rusqlite::Result<Vec<String>> {
                let mut stmt = c.prepare_cached(&for_sqlite(text))?;
                let rows = stmt.query_map(
                    params![scope.partner, env, scope.iface, pk, max_listed],
                    |r| r.get::<_, String>(0),
                )?;
                rows.collect()
            };
            let count = |text: &str| -> rusqlite::Result<i64> {
                c.prepare_cached(&for_sqlite(text))?
                    .query_row(params![scope.partner, env, scope.iface, pk], |r| r.get(0))
            };
            let mut conflicts = keys(&q.lost)?;
            conflicts.extend(keys(&q.retaken)?);
            conflicts.sort();
            conflicts.truncate(max_listed as usize);
            let conflict_count = (count(&q.lost_count)? + count(&q.retaken_count)?) as u64;
            run(c, &q.statements, scope, pk)?;
            Ok(Reverted::Done {
                conflicts,
                conflict_count,
            })
        })
    }

    async fn apply(&mut self, scope: &Scope, pk: i64, op: Operation) -> Result<Applied> {
        let c = &*self.conn;
        blocking(|| {
            let env = scope.env.as_str();
            let scoped = params![scope.partner, env, scope.iface, pk];
            let count = |q: &str| -> rusqlite::Result<i64> {
                c.prepare_cached(&for_sqlite(q))?
                    .query_row(scoped, |r| r.get(0))
            };
            if op == Operation::Insert
                && count(versions::KEYS_MAY_BE_TAKEN)? > 0
                && count(&sql::clashes("rkey"))? + count(&sql::clashes("uid"))? > 0
            {
                let mut stmt = c.prepare_cached(&for_sqlite(sql::CLASHING_ROWS))?;
                let rows = stmt.query_map(
                    params![scope.partner, env, scope.iface, pk, MAX_LISTED_CLASHES, 1],
                    |r| {
                        Ok(ClashRow {
                            seq_id: r.get(0)?,
                            idx: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                            data: r.get(2)?,
                            by_key: r.get::<_, i64>(3)? != 0,
                        })
                    },
                )?;
                return Ok(Applied::KeyClash(rows.collect::<rusqlite::Result<_>>()?));
            }
            let counts = run(c, &sql::apply_statements(op), scope, pk)?;
            Ok(Applied::Done {
                deleted: sql::deleted_by(op)
                    .and_then(|i| counts.get(i).copied())
                    .unwrap_or(0),
            })
        })
    }

    async fn savepoint(&mut self, name: &'static str) -> Result<()> {
        let c = &*self.conn;
        blocking(|| Ok(c.execute_batch(&format!("SAVEPOINT {name}"))?))
    }

    async fn rollback_to(&mut self, name: &'static str) -> Result<()> {
        let c = &*self.conn;
        blocking(|| Ok(c.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"))?))
    }

    async fn feed_event(&mut self, b: &BatchRow, kind: super::feed::Kind, now_unix: i64) {
        self.events
            .push(super::feed::Pending::new(b, kind, now_unix));
    }

    async fn audit(&mut self, row: &super::audit::AuditRow) -> Result<()> {
        self.append_audit(row)
    }

    async fn webhook_event(&mut self, e: &super::webhooks::Event) -> Result<()> {
        self.hooks.push(e.clone());
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        self.enqueue_webhooks()?;
        for e in std::mem::take(&mut self.events) {
            self.append_event(&e)?;
        }
        let c = &*self.conn;
        blocking(|| c.execute_batch("COMMIT"))?;
        self.done = true;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
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

    async fn install_views(&self, plan: &super::views::Plan<'_>) -> Result<super::views::Report> {
        self.with(|c| views::install(c, plan)).await
    }

    async fn begin(&self) -> Result<Box<dyn Tx + '_>> {
        let conn = self.conn.clone().lock_owned().await;
        blocking(|| conn.execute_batch("BEGIN IMMEDIATE"))?;
        Ok(Box::new(SqliteTx {
            conn,
            done: false,
            events: Vec::new(),
            hooks: Vec::new(),
        }))
    }

    async fn insert_partner(&self, p: &PartnerRow, now_unix: i64) -> Result<()> {
        let interfaces = p
            .interfaces
            .as_ref()
            .map(|i| serde_json::to_string(i).unwrap_or_default());
        let res = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::INSERT_PARTNER),
                    params![p.name, p.secret_hash, interfaces, now_unix],
                )
            })
            .await;
        unique_as_conflict(res, || format!("partner {}", p.name))
    }

    async fn partner(&self, name: &str) -> Result<Option<PartnerRow>> {
        let row = self
            .with(|c| {
                c.query_row(&for_sqlite(sql::SELECT_PARTNER), [name], |r| {
                    Ok((
                        PartnerRow {
                            name: r.get(0)?,
                            secret_hash: r.get(1)?,
                            interfaces: None,
                            disabled: r.get::<_, i64>(3)? != 0,
                            prev_secret_hash: r.get(4)?,
                            prev_secret_until: r.get(5)?,
                        },
                        r.get::<_, Option<String>>(2)?,
                    ))
                })
                .optional()
            })
            .await?;
        row.map(|(p, ifs)| {
            Ok(PartnerRow {
                interfaces: parse_interfaces(ifs)?,
                ..p
            })
        })
        .transpose()
    }

    async fn insert_user(&self, u: &UserRow, now_unix: i64) -> Result<()> {
        let res = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::INSERT_USER),
                    params![u.username, u.partner, u.password_hash, now_unix],
                )
            })
            .await;
        unique_as_conflict(res, || format!("user {}", u.username))
    }

    async fn user(&self, username: &str) -> Result<Option<UserRow>> {
        self.with(|c| {
            c.query_row(&for_sqlite(sql::SELECT_USER), [username], |r| {
                Ok(UserRow {
                    username: r.get(0)?,
                    partner: r.get(1)?,
                    password_hash: r.get(2)?,
                    disabled: r.get::<_, i64>(3)? != 0,
                })
            })
            .optional()
        })
        .await
    }

    async fn insert_token(&self, hash: &str, t: &TokenRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                &for_sqlite(sql::INSERT_TOKEN),
                params![
                    hash,
                    t.partner,
                    t.username,
                    t.expires_unix,
                    t.kind,
                    t.id,
                    t.issued_unix
                ],
            )
        })
        .await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRow>> {
        self.with(|c| {
            c.query_row(&for_sqlite(sql::SELECT_TOKEN), [hash], |r| {
                Ok(TokenRow {
                    partner: r.get(0)?,
                    username: r.get(1)?,
                    expires_unix: r.get(2)?,
                    kind: r.get(3)?,
                    id: r.get(4)?,
                    issued_unix: r.get(5)?,
                    last_used_unix: r.get(6)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn delete_token(&self, hash: &str) -> Result<bool> {
        let n = self
            .with(|c| c.execute(&for_sqlite(sql::DELETE_TOKEN), [hash]))
            .await?;
        Ok(n == 1)
    }

    async fn purge_tokens(&self, now_unix: i64) -> Result<u64> {
        let n = self
            .with(|c| c.execute(&for_sqlite(sql::PURGE_TOKENS), [now_unix]))
            .await?;
        Ok(n as u64)
    }

    async fn batch(&self, scope: &Scope, batch_id: &str) -> Result<Option<BatchRow>> {
        let conn = self.conn.lock().await;
        blocking(|| select_batch(&conn, scope, batch_id))
    }

    async fn rejections(&self, pk: i64) -> Result<Vec<RejectionRow>> {
        self.with(|c| select_rejections(c, pk)).await
    }

    async fn staged_count(&self, pk: i64) -> Result<u64> {
        let n: i64 = self
            .with(|c| c.query_row(&for_sqlite(sql::COUNT_STAGED_ROWS), [pk], |r| r.get(0)))
            .await?;
        Ok(n as u64)
    }

    async fn user_batches(
        &self,
        partner: &str,
        creator: &str,
        before_pk: i64,
        limit: u32,
    ) -> Result<Vec<BatchRow>> {
        let c = self.conn.lock().await;
        blocking(|| {
            let mut stmt = c.prepare_cached(&for_sqlite(&sql::select_user_batches()))?;
            batches(&mut stmt, params![partner, creator, before_pk, limit])
        })
    }

    async fn mark_spent(&self, since_unix: i64) -> Result<u64> {
        self.with(|c| c.execute(&for_sqlite(versions::MARK_SPENT), [since_unix]))
            .await
            .map(|n| n as u64)
    }

    async fn compact(&self, chunk: i64) -> Result<u64> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // The same rows, in the same order, in one transaction: nothing else writes.
            let moved = tx.execute(&for_sqlite(versions::COPY_DEAD), [chunk])?;
            tx.execute(&for_sqlite(versions::DELETE_MOVED), [chunk])?;
            tx.commit()?;
            Ok(moved as u64)
        })
    }

    async fn expire_batches(&self, before_unix: i64, now_unix: i64) -> Result<u64> {
        let mut conn = self.conn.lock().await;
        blocking(|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let audit = super::audit::AUDIT_EXPIRING.replace("{JSON_OBJECT}", "json_object")
                + super::audit::RETURNING;
            let expired: Vec<super::audit::AuditRow> = tx
                .prepare(&for_sqlite(&audit))?
                .query_map(params![before_unix, now_unix], audit::returned)?
                .collect::<rusqlite::Result<_>>()?;
            let events: Vec<_> = expired
                .iter()
                .filter_map(super::webhooks::Event::from_audit)
                .collect();
            webhooks::enqueue(&tx, &events)?;
            let n = tx.execute(
                &for_sqlite(sql::EXPIRE_BATCHES),
                params![before_unix, now_unix],
            )?;
            if n > 0 {
                for q in versions::DROP_EXPIRED_VERSIONS {
                    tx.execute(q, [])?;
                }
            }
            tx.commit()?;
            Ok(n as u64)
        })
    }

    async fn file(&self, scope: &Scope, name: &str) -> Result<Option<FileRow>> {
        self.named_row(sql::SELECT_FILE, scope, name, file_row)
            .await
    }

    async fn insert_file(&self, scope: &Scope, f: &FileRow) -> Result<bool> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::INSERT_FILE))?
                    .execute(params![
                        scope.partner,
                        scope.env.as_str(),
                        scope.iface,
                        f.name,
                        f.code,
                        f.answer,
                        f.created_unix,
                        f.size.map(|n| n as i64)
                    ])
            })
            .await?;
        Ok(n == 1)
    }

    async fn files(&self, scope: &Scope) -> Result<Vec<FileRow>> {
        self.scope_rows(sql::SELECT_FILES, scope, file_row).await
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
        self.with(|c| {
            c.prepare_cached(&for_sqlite(sql::PUT_PART))?
                .execute(params![
                    scope.partner,
                    scope.env.as_str(),
                    scope.iface,
                    name,
                    content,
                    content.len() as i64,
                    now_unix
                ])
        })
        .await?;
        Ok(())
    }

    async fn part(&self, scope: &Scope, name: &str) -> Result<Option<(PartRow, Vec<u8>)>> {
        self.named_row(sql::SELECT_PART, scope, name, |r| {
            Ok((part_row(r)?, r.get::<_, Vec<u8>>(3)?))
        })
        .await
    }

    async fn parts(&self, scope: &Scope) -> Result<Vec<PartRow>> {
        self.scope_rows(sql::SELECT_PARTS, scope, part_row).await
    }

    async fn delete_part(&self, scope: &Scope, name: &str) -> Result<bool> {
        self.named_change(sql::DELETE_PART, scope, name).await
    }

    async fn prune_parts(&self, before_unix: i64) -> Result<u64> {
        let n = self
            .with(|c| {
                c.prepare_cached(&for_sqlite(sql::PRUNE_PARTS))?
                    .execute(params![before_unix])
            })
            .await?;
        Ok(n as u64)
    }

    async fn insert_user_key(&self, k: &UserKeyRow) -> Result<()> {
        let res = self
            .with(|c| {
                c.execute(
                    &for_sqlite(sql::INSERT_USER_KEY),
                    params![
                        k.username,
                        k.fingerprint,
                        k.public_key,
                        k.comment,
                        k.added_unix
                    ],
                )
            })
            .await;
        unique_as_conflict(res, || {
            format!("key {} of user {}", k.fingerprint, k.username)
        })
    }

    async fn user_keys(&self, username: &str) -> Result<Vec<UserKeyRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(&for_sqlite(sql::SELECT_USER_KEYS))?;
            let rows = stmt.query_map([username], |r| {
                Ok(UserKeyRow {
                    username: r.get(0)?,
                    fingerprint: r.get(1)?,
                    public_key: r.get(2)?,
                    comment: r.get(3)?,
                    added_unix: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn delete_user_key(&self, username: &str, fingerprint: &str) -> Result<bool> {
        let n = self
            .with(|c| c.execute(&for_sqlite(sql::DELETE_USER_KEY), [username, fingerprint]))
            .await?;
        Ok(n == 1)
    }

    async fn host_key(&self, name: &str, new: &str, now_unix: i64) -> Result<String> {
        self.with(|c| {
            c.execute(
                &for_sqlite(sql::INSERT_HOST_KEY),
                params![name, new, now_unix],
            )?;
            c.query_row(&for_sqlite(sql::SELECT_HOST_KEY), [name], |r| r.get(0))
        })
        .await
    }

    async fn records(&self, scope: &Scope) -> Result<Vec<String>> {
        self.scope_rows(sql::SELECT_RECORDS, scope, |r| r.get::<_, String>(0))
            .await
    }

    async fn query_records(
        &self,
        select: &super::query::Select,
    ) -> Result<Vec<super::query::RecordRow>> {
        let (text, params) = super::query::select(select, super::query::Dialect::Sqlite);
        self.with(|c| {
            c.prepare_cached(&for_sqlite(&text))?
                .query_map(rusqlite::params_from_iter(params.iter()), |r| {
                    Ok(super::query::RecordRow {
                        partner: r.get(0)?,
                        rkey: r.get(1)?,
                        data: r.get(2)?,
                    })
                })?
                .collect()
        })
        .await
    }

    async fn schema_version(&self) -> Result<i64> {
        self.with(|c| c.query_row(sql::SCHEMA_VERSION, [], |r| r.get(0)))
            .await
    }

    async fn batch_counts(&self) -> Result<Vec<(BatchState, u64)>> {
        let rows = self
            .with(|c| {
                let mut stmt = c.prepare_cached(sql::BATCH_COUNTS)?;
                let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<(String, i64)>>>()
            })
            .await?;
        rows.iter().map(|(s, n)| state_count(s, *n)).collect()
    }
}

fn part_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartRow> {
    Ok(PartRow {
        name: r.get(0)?,
        size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        received_unix: r.get(2)?,
    })
}

fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    Ok(FileRow {
        name: r.get(0)?,
        code: r.get(1)?,
        answer: r.get(2)?,
        created_unix: r.get(3)?,
        size: r.get::<_, Option<i64>>(4)?.map(|n| n.max(0) as u64),
    })
}

fn unique_as_conflict(res: Result<usize>, what: impl FnOnce() -> String) -> Result<()> {
    match res {
        Ok(_) => Ok(()),
        Err(CoreError::Store(msg)) if msg.contains("UNIQUE") => Err(CoreError::Conflict(what())),
        Err(CoreError::Store(msg)) if msg.contains("FOREIGN KEY") => {
            Err(CoreError::NotFound(format!("{} (its partner)", what())))
        }
        Err(e) => Err(e),
    }
}

pub(crate) fn parse_interfaces(text: Option<String>) -> Result<Option<Vec<String>>> {
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| CoreError::Store(format!("stored partner interfaces: {e}")))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deployment at version 2 (before sources and stored answers) is brought up to date,
    /// its batches kept.
    #[test]
    fn a_version_2_database_migrates_to_the_latest() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 2).unwrap();
        conn.execute_batch(
            "INSERT INTO batches (partner, env, iface, batch_id, op, batch_size, state, \
             transport, creator, created_unix, updated_unix) \
             VALUES ('P', 'prod', 't1/bom', 'B', 'insert', 2, 'open', 'api', 'u', 1, 1);
             INSERT INTO sequences (batch_pk, seq_id, seq_no, accepted, attempts, updated_unix) \
             VALUES (1, '1', NULL, 0, 1, 1);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let scope = Scope {
            partner: "P".into(),
            env: Environment::Prod,
            iface: "t1/bom".into(),
        };
        let b = select_batch(&conn, &scope, "B").unwrap().unwrap();
        assert_eq!((b.source.as_str(), b.creator.as_str()), ("", "u"));
        // Version 4: an earlier batch reads as an instant one from the API, changed by its
        // creator, nothing planned.
        let p = &b.proposal;
        assert_eq!((p.batch_source.as_str(), p.modifier.as_str()), ("api", "u"));
        assert!(p.schedule.instant && p.schedule.revert_unix.is_none());
        assert!(select_rejections(&conn, b.pk).unwrap().is_empty());
        let versions: i64 = conn
            .query_row("SELECT max(version) FROM schema_migrations", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(versions, sql::latest_schema_version());
    }

    /// A deployment at version 21 with records, staged rows and a journal keeps them all as
    /// versions (migration 22).
    #[tokio::test]
    async fn a_version_21_store_keeps_its_rows_as_versions() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate_to(&mut conn, 21).unwrap();
        conn.execute_batch(versions::V21_FIXTURE).unwrap();
        let store = SqliteStore::from_connection(conn).unwrap();
        versions::check_v21_fixture(&store).await;
        // The view over the old table reads the new view of the same name.
        let typed: i64 = store
            .with(|c| c.query_row("SELECT COUNT(*) FROM typed_t1_bom", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(typed, 2);
    }
}
