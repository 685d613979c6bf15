//! Record versions: every row is written once.
//!
//! A staged row is a version of its key in `record_versions`, written durably when its
//! sequence is accepted and never copied again. A version is a current record while nothing
//! superseded it (`dead_by` NULL) and its batch is applied (a delete batch's versions are
//! only the keys it removed). So a batch becomes visible, wholly, by its state change, in the
//! transaction of its apply; an apply writes only the versions it supersedes (`dead_by` =
//! the batch), and an insert batch none at all.
//!
//! The views keep the names of the tables they replaced (migration 22), so what reads them
//! did not change:
//! - `records`: the current records;
//! - `staged_rows`: each batch's rows as staged (its after-image), wherever they are kept;
//! - `batch_changes`: the versions each batch superseded (its before-image), with the batch
//!   that had written each (`prev_batch_pk`).
//!
//! Compaction ([`MARK_SPENT`], then [`MOVE_DEAD`] in chunks, in housekeeping) moves versions
//! that can never be current again into `record_history`, so reads of current records and
//! key look-ups do not wade through them; revert and the change feed read both tables
//! through the views.

/// `$1..$3` the scope: a version `v` that is one of its current records.
pub const LIVE: &str = "v.dead_by IS NULL AND EXISTS (SELECT 1 FROM batches lb \
    WHERE lb.pk = v.batch_pk AND lb.state = 'applied' AND lb.op <> 'delete')";

/// The schema of this design (migration 22), from the tables it replaces: a pending batch's
/// staged rows become its versions, the current records live versions (carried over: no
/// `seq_no`), every other staged row and every journalled before-image history. `{CASCADE}`:
/// PostgreSQL's typed views (`wharf_data`) stand on the old table and are made again at
/// start-up over the new view.
pub const MIGRATION: &str = "\
    ALTER TABLE batches ADD COLUMN seen_pos BIGINT; \
    CREATE TABLE record_versions (partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, \
      rkey TEXT {BYTES}, uid TEXT, data TEXT NOT NULL, batch_pk BIGINT NOT NULL, seq_no BIGINT, \
      idx BIGINT NOT NULL, dead_by BIGINT); \
    CREATE TABLE record_history (partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, \
      rkey TEXT {BYTES}, uid TEXT, data TEXT NOT NULL, batch_pk BIGINT NOT NULL, seq_no BIGINT, \
      idx BIGINT NOT NULL, dead_by BIGINT); \
    INSERT INTO record_versions (partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
      SELECT b.partner, b.env, b.iface, s.rkey, s.uid, s.data, s.batch_pk, s.seq_no, s.idx, NULL \
      FROM staged_rows s JOIN batches b ON b.pk = s.batch_pk WHERE b.state IN ('open', 'held'); \
    INSERT INTO record_history (partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
      SELECT b.partner, b.env, b.iface, s.rkey, s.uid, s.data, s.batch_pk, s.seq_no, s.idx, NULL \
      FROM staged_rows s JOIN batches b ON b.pk = s.batch_pk WHERE b.state NOT IN ('open', 'held'); \
    INSERT INTO record_history (partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
      SELECT b.partner, b.env, b.iface, c.rkey, c.uid, c.data, c.prev_batch_pk, NULL, 0, c.batch_pk \
      FROM batch_changes c JOIN batches b ON b.pk = c.batch_pk; \
    INSERT INTO record_versions (partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
      SELECT partner, env, iface, rkey, uid, data, batch_pk, NULL, 0, NULL FROM records; \
    DROP TABLE records{CASCADE}; \
    DROP TABLE staged_rows; \
    DROP TABLE batch_changes; \
    CREATE INDEX record_versions_key ON record_versions (partner, env, iface, rkey); \
    CREATE INDEX record_versions_uid ON record_versions (partner, env, iface, uid) \
      WHERE uid IS NOT NULL; \
    CREATE INDEX record_versions_batch ON record_versions (batch_pk, rkey); \
    CREATE INDEX record_versions_dead ON record_versions (dead_by, rkey) WHERE dead_by IS NOT NULL; \
    CREATE INDEX record_history_batch ON record_history (batch_pk, rkey); \
    CREATE INDEX record_history_dead ON record_history (dead_by, rkey) WHERE dead_by IS NOT NULL; \
    CREATE VIEW records AS SELECT v.partner, v.env, v.iface, v.rkey, v.uid, v.data, v.batch_pk \
      FROM record_versions v JOIN batches b ON b.pk = v.batch_pk \
      WHERE v.dead_by IS NULL AND b.state = 'applied' AND b.op <> 'delete'; \
    CREATE VIEW staged_rows AS \
      SELECT batch_pk, seq_no, idx, rkey, uid, data FROM record_versions WHERE seq_no IS NOT NULL \
      UNION ALL \
      SELECT batch_pk, seq_no, idx, rkey, uid, data FROM record_history WHERE seq_no IS NOT NULL; \
    CREATE VIEW batch_changes AS \
      SELECT dead_by AS batch_pk, rkey, uid, data, batch_pk AS prev_batch_pk FROM record_versions \
        WHERE dead_by IS NOT NULL AND dead_by <> batch_pk \
      UNION ALL \
      SELECT dead_by AS batch_pk, rkey, uid, data, batch_pk AS prev_batch_pk FROM record_history \
        WHERE dead_by IS NOT NULL AND dead_by <> batch_pk;";

/// `$1..$3` the scope, `$4` an insert batch's pk: 1 when its keys must be checked against the
/// current records at apply ([`super::sql::clashes`]), 0 when no apply, execute or revert
/// of the scope has committed since its first sequence's keys were checked — `seen_pos`, the
/// change feed's head read before that check; the feed numbers events in commit order, and
/// every sequence after the first was checked later still. Unknown (no `seen_pos`, or events
/// after it pruned): checked.
pub const KEYS_MAY_BE_TAKEN: &str = "SELECT COUNT(*) FROM batches b WHERE b.pk = $4 \
    AND (b.seen_pos IS NULL OR b.seen_pos < (SELECT h.pruned FROM feed_head h WHERE h.one = 1) \
      OR EXISTS (SELECT 1 FROM feed f WHERE f.pos > b.seen_pos AND f.partner = $1 \
        AND f.env = $2 AND f.iface = $3))";

/// The change feed's head (see [`KEYS_MAY_BE_TAKEN`]).
pub const FEED_HEAD: &str = "SELECT pos FROM feed_head WHERE one = 1";

/// Stage a sequence's rows. `$1..$3` the scope, `$4` the batch's pk, `$5` seq_no, then each
/// row's idx, rkey, uid and data (SQLite: one row a statement; PostgreSQL: arrays).
pub const STAGE_COLUMNS: &str =
    "INSERT INTO record_versions (partner, env, iface, batch_pk, seq_no, idx, rkey, uid, data)";

/// A batch's own versions (`$1` pk), wherever kept: dropped when it is abandoned, cancelled,
/// expired or started afresh.
pub const DROP_BATCH_VERSIONS: [&str; 2] = [
    "DELETE FROM record_versions WHERE batch_pk = $1",
    "DELETE FROM record_history WHERE batch_pk = $1",
];

/// The versions of expired batches (after `EXPIRE_BATCHES`).
pub const DROP_EXPIRED_VERSIONS: [&str; 2] = [
    "DELETE FROM record_versions WHERE batch_pk IN (SELECT pk FROM batches WHERE state = 'expired')",
    "DELETE FROM record_history WHERE batch_pk IN (SELECT pk FROM batches WHERE state = 'expired')",
];

/// Compaction, step 1: versions whose batch can never make them current (it failed, was
/// reverted, or is an applied delete, whose versions are only keys) are marked spent with
/// their own batch's pk; only batches settled (last changed) at or after `$1`, so a round
/// does not look at every batch ever settled again. What a view reads of them does not
/// change.
pub const MARK_SPENT: &str = "UPDATE record_versions SET dead_by = batch_pk \
    WHERE dead_by IS NULL AND batch_pk IN (SELECT pk FROM batches WHERE updated_unix >= $1 \
      AND (state IN ('failed', 'reverted') OR (state = 'applied' AND op = 'delete')))";

/// Compaction, step 2 (SQLite): at most `$1` versions that are no longer current, oldest
/// first, copied into `record_history`; [`DELETE_MOVED`] then removes the same ones.
pub const COPY_DEAD: &str = "INSERT INTO record_history \
    (partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
    SELECT partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by \
    FROM record_versions WHERE rowid IN (SELECT rowid FROM record_versions \
      WHERE dead_by IS NOT NULL ORDER BY rowid LIMIT $1)";
pub const DELETE_MOVED: &str = "DELETE FROM record_versions WHERE rowid IN \
    (SELECT rowid FROM record_versions WHERE dead_by IS NOT NULL ORDER BY rowid LIMIT $1)";

/// Compaction, step 2 (PostgreSQL): the same in one statement.
pub const MOVE_DEAD: &str = "WITH moved AS (DELETE FROM record_versions WHERE ctid = ANY \
      (ARRAY(SELECT ctid FROM record_versions WHERE dead_by IS NOT NULL LIMIT $1)) \
      RETURNING partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
    INSERT INTO record_history (partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by) \
    SELECT partner, env, iface, rkey, uid, data, batch_pk, seq_no, idx, dead_by FROM moved";

/// Versions moved per compaction transaction: short enough not to hold anything long.
pub const COMPACT_CHUNK: i64 = 10_000;

/// A store at version 21 with data (tests of migration 22 on both stores): batch A (pk 1)
/// inserted k1 and k2, batch B (pk 2) updated k1 (its before-image journalled), batch C
/// (pk 3) is open with k3 staged; a typed view of a SQL tool's stands on `records`.
#[cfg(test)]
pub const V21_FIXTURE: &str = "\
    INSERT INTO batches (partner, env, iface, batch_id, op, batch_size, state, transport, \
      creator, created_unix, updated_unix) VALUES \
      ('P', 'prod', 't1/bom', 'A', 'insert', 2, 'applied', 'api', 'u', 1, 1), \
      ('P', 'prod', 't1/bom', 'B', 'update', 1, 'applied', 'api', 'u', 2, 2), \
      ('P', 'prod', 't1/bom', 'C', 'insert', 2, 'open', 'api', 'u', 3, 3); \
    INSERT INTO staged_rows (batch_pk, seq_no, idx, rkey, uid, data) VALUES \
      (1, 0, 0, '[\"k1\"]', NULL, '{\"v\":\"a1\"}'), (1, 0, 1, '[\"k2\"]', NULL, '{\"v\":\"a2\"}'), \
      (2, 0, 0, '[\"k1\"]', NULL, '{\"v\":\"b1\"}'), (3, 0, 0, '[\"k3\"]', NULL, '{\"v\":\"c3\"}'); \
    INSERT INTO records (partner, env, iface, rkey, uid, data, batch_pk) VALUES \
      ('P', 'prod', 't1/bom', '[\"k1\"]', NULL, '{\"v\":\"b1\"}', 2), \
      ('P', 'prod', 't1/bom', '[\"k2\"]', NULL, '{\"v\":\"a2\"}', 1); \
    INSERT INTO batch_changes (batch_pk, rkey, uid, data, prev_batch_pk) VALUES \
      (2, '[\"k1\"]', NULL, '{\"v\":\"a1\"}', 1); \
    CREATE VIEW typed_t1_bom AS SELECT r.data, b.batch_id FROM records r \
      LEFT JOIN batches b ON b.pk = r.batch_pk;";

/// What a store made from [`V21_FIXTURE`] holds after migration 22: the same current
/// records, C's row still staged, and B's revert giving k1 back from the journal.
#[cfg(test)]
pub async fn check_v21_fixture(store: &dyn super::Store) {
    use crate::model::{BatchState, Environment, Operation, Scope};
    let scope = Scope {
        partner: "P".into(),
        env: Environment::Prod,
        iface: "t1/bom".into(),
    };
    let current = store.records(&scope).await.unwrap();
    assert_eq!(current, [r#"{"v":"b1"}"#, r#"{"v":"a2"}"#]);
    assert_eq!(store.staged_count(3).await.unwrap(), 1);
    assert_eq!(store.staged_count(1).await.unwrap(), 2);
    let mut tx = store.begin().await.unwrap();
    let reverted = tx.revert(&scope, 2, Operation::Update, 20).await.unwrap();
    assert_eq!(
        reverted,
        super::Reverted::Done {
            conflicts: vec![],
            conflict_count: 0
        }
    );
    tx.set_state(2, BatchState::Reverted, None, 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let current = store.records(&scope).await.unwrap();
    assert_eq!(current, [r#"{"v":"a1"}"#, r#"{"v":"a2"}"#]);
}
