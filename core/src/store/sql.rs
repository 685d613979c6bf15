//! SQL both backends run verbatim (`$n` placeholders; SQLite reads them as `?n`).
//!
//! How an operation lands in the records (versions, see `store::versions`) is written here
//! once, so PostgreSQL and SQLite cannot drift apart. Parameters of every apply statement:
//! `$1` partner, `$2` env, `$3` interface, `$4` the batch's pk.

use crate::model::Operation;

use super::versions::LIVE;

const SCOPE: &str = "r.partner = $1 AND r.env = $2 AND r.iface = $3";

const VSCOPE: &str = "v.partner = $1 AND v.env = $2 AND v.iface = $3";

const BATCH_UIDS: &str =
    "SELECT s.uid FROM record_versions s WHERE s.batch_pk = $4 AND s.uid IS NOT NULL";
const BATCH_KEYS: &str =
    "SELECT s.rkey FROM record_versions s WHERE s.batch_pk = $4 AND s.rkey IS NOT NULL";
const BATCH_KEYS_WITHOUT_UID: &str =
    "SELECT s.rkey FROM record_versions s WHERE s.batch_pk = $4 AND s.uid IS NULL";

/// The scope's current records that `predicate` matches are superseded by the batch: they
/// stay, as its before-image, but are no longer current.
fn supersede(predicate: &str) -> String {
    format!(
        "UPDATE record_versions AS v SET dead_by = $4 WHERE {VSCOPE} AND v.batch_pk <> $4 \
         AND {LIVE} AND ({predicate})"
    )
}

/// The statements that apply a complete batch, in order, all inside one transaction, under
/// the scope's lock, after [`clashes`] found nothing for an insert. The
/// batch's own versions are already written (staged): they become current when its state
/// becomes `applied` in the same transaction.
///
/// - insert: nothing more (the clash checks made sure no key or uid is current already).
/// - update: records matched by uid, and records at the batch's keys, are superseded; a row
///   without a uid keeps the uid of the record it replaces (unless another row of the batch
///   takes that uid).
/// - delete: records matched by uid (rows that carry one) or by business key are superseded.
/// - all: every record of the scope is superseded.
///
/// What a batch supersedes is its before-image (`dead_by` = the batch), which is what a
/// later revert and the change feed read.
pub fn apply_statements(op: Operation) -> Vec<String> {
    let by_uid = format!("v.uid IN ({BATCH_UIDS})");
    match op {
        Operation::Insert => Vec::new(),
        Operation::Update => {
            let replaced = format!(
                "SELECT v.uid FROM record_versions v WHERE {VSCOPE} AND v.rkey = n.rkey \
                 AND v.uid IS NOT NULL AND {LIVE} AND v.uid NOT IN ({BATCH_UIDS})"
            );
            vec![
                format!(
                    "UPDATE record_versions AS n SET uid = ({replaced}) WHERE n.batch_pk = $4 \
                     AND n.uid IS NULL AND n.rkey IS NOT NULL AND EXISTS ({replaced})"
                ),
                supersede(&format!("{by_uid} OR v.rkey IN ({BATCH_KEYS})")),
            ]
        }
        Operation::Delete => vec![supersede(&format!(
            "{by_uid} OR v.rkey IN ({BATCH_KEYS_WITHOUT_UID})"
        ))],
        Operation::All => vec![supersede("1 = 1")],
    }
}

/// An insert's rows (`$4`) whose business key (`col` = `rkey`) or uid (`uid`) is a current
/// record's, at any key of the scope: counted first, listed by [`CLASHING_ROWS`] only when
/// there are any. Written as a scalar subquery with LIMIT so that it stays one index probe
/// per row of the batch whatever the statistics say: no plan may scan the scope's records (a
/// semi-join could).
pub fn clashes(col: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM record_versions s WHERE s.batch_pk = $4 AND s.{col} IS NOT NULL \
         AND (SELECT 1 FROM record_versions v WHERE {VSCOPE} AND v.{col} = s.{col} \
           AND v.batch_pk <> $4 AND {LIVE} LIMIT 1) IS NOT NULL"
    )
}

/// After [`clashes`] found some: the batch's staged rows (`$4`) whose uid is
/// another key's record, or (only when `$6` = 1: an insert, for which a key already in the
/// records is a clash; an update or `all` replaces it) whose business key is a record of the
/// scope — its sequence's seq_id, idx, data, 1 when by key — at most `$5`, in sequence and
/// row order.
pub const CLASHING_ROWS: &str = "SELECT COALESCE((SELECT q.seq_id FROM sequences q \
      WHERE q.batch_pk = s.batch_pk AND q.seq_no = s.seq_no), ''), s.idx, s.data, \
    CASE WHEN $6 = 1 AND EXISTS (SELECT 1 FROM records r WHERE r.partner = $1 AND r.env = $2 \
      AND r.iface = $3 AND r.rkey = s.rkey) THEN 1 ELSE 0 END \
    FROM staged_rows s WHERE s.batch_pk = $4 AND (\
      ($6 = 1 AND EXISTS (SELECT 1 FROM records r WHERE r.partner = $1 AND r.env = $2 \
        AND r.iface = $3 AND r.rkey = s.rkey)) \
      OR (s.uid IS NOT NULL AND EXISTS (SELECT 1 FROM records r WHERE r.partner = $1 \
        AND r.env = $2 AND r.iface = $3 AND r.uid = s.uid AND r.rkey <> s.rkey))) \
    ORDER BY s.seq_no, s.idx LIMIT $5";

/// Which of [`apply_statements`]' results (rows affected) is the records a delete removed.
pub fn deleted_by(op: Operation) -> Option<usize> {
    (op == Operation::Delete).then_some(0)
}

/// The statements of a revert of batch `$4` (see [`revert_sql`]).
pub struct RevertSql {
    /// Keys this batch wrote whose record no longer carries it (a later batch changed or
    /// removed it): left as they are. `$5` = at most this many, in key order.
    pub lost: String,
    pub lost_count: String,
    /// Keys this batch replaced or removed that cannot come back (the key, or the uid at
    /// another key, is now taken by a later batch's record): left as they are. `$5` as above.
    pub retaken: String,
    pub retaken_count: String,
    /// Run in order, inside one transaction (a unique clash rolls them all back).
    pub statements: Vec<String>,
}

/// How a batch's rows go back to what they were, from `batch_changes` (the versions it
/// superseded: the before-image of every record it replaced or removed, with the batch that
/// had written it, wherever compaction keeps them) and its staged rows (its after-image, the
/// keys it wrote; none for a delete):
///
/// 1. its own versions stop being current when its state becomes `reverted` (the caller's
///    save, in the same transaction);
/// 2. a before-image at a key it still holds comes back (a row it replaced), and so does a
///    before-image whose key is free (a row it deleted; an `all` batch's previous set) —
///
/// each as a new current version with the batch that had written it, so an earlier batch can
/// be reverted later in turn. A before-image is not restored when a later batch changed its
/// row since (the key it wrote lost this batch, or the key or uid is now another batch's):
/// those are the conflicts, listed by `lost` and `retaken`.
pub fn revert_sql(op: Operation) -> RevertSql {
    // A delete writes no rows: its staged rows are the keys it removed.
    let writes = if op == Operation::Delete {
        " AND 1 = 0"
    } else {
        ""
    };
    let wrote = |key: &str| {
        format!(
            "EXISTS (SELECT 1 FROM staged_rows w WHERE w.batch_pk = $4 AND w.rkey = {key}{writes})"
        )
    };
    let still_ours = |key: &str| {
        format!(
            "EXISTS (SELECT 1 FROM records r WHERE {SCOPE} AND r.rkey = {key} AND r.batch_pk = $4)"
        )
    };
    let lost_change = format!("({} AND NOT {})", wrote("c.rkey"), still_ours("c.rkey"));
    let retaken_change = format!(
        "((NOT {wrote_c} AND EXISTS (SELECT 1 FROM records r WHERE {SCOPE} AND r.rkey = c.rkey)) \
         OR (c.uid IS NOT NULL AND EXISTS (SELECT 1 FROM records r WHERE {SCOPE} \
             AND r.uid = c.uid AND r.rkey <> c.rkey AND r.batch_pk <> $4)))",
        wrote_c = wrote("c.rkey"),
    );
    let restorable = format!("c.batch_pk = $4 AND NOT {lost_change} AND NOT {retaken_change}");
    let lost_where = format!(
        "s.batch_pk = $4 AND s.rkey IS NOT NULL{writes} AND NOT {}",
        still_ours("s.rkey")
    );
    let retaken_where = format!("c.batch_pk = $4 AND NOT {lost_change} AND {retaken_change}");
    // A restored record is a new version: the before-image's data with the batch that had
    // written it (so that batch can be reverted in turn), not one of that batch's staged rows.
    let restore = format!(
        "INSERT INTO record_versions (partner, env, iface, rkey, uid, data, batch_pk, seq_no, \
         idx, dead_by) SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), c.rkey, \
         c.uid, c.data, c.prev_batch_pk, NULL, 0, NULL FROM batch_changes c WHERE {restorable}"
    );
    let capture = "INSERT INTO revert_rows (batch_pk, rkey, uid, after, before)";
    RevertSql {
        lost: format!(
            "SELECT s.rkey FROM staged_rows s WHERE {lost_where} ORDER BY s.rkey LIMIT $5"
        ),
        lost_count: format!("SELECT COUNT(*) FROM staged_rows s WHERE {lost_where}"),
        retaken: format!(
            "SELECT c.rkey FROM batch_changes c WHERE {retaken_where} ORDER BY c.rkey LIMIT $5"
        ),
        retaken_count: format!("SELECT COUNT(*) FROM batch_changes c WHERE {retaken_where}"),
        statements: vec![
            // What the statements below change, captured first for the change feed
            // (`store::feed`): the rows it inserted go, the rows it replaced come back over
            // it, the rows it removed come back.
            format!(
                "{capture} SELECT CAST($4 AS BIGINT), r.rkey, r.uid, NULL, r.data \
                 FROM records r WHERE {SCOPE} AND r.batch_pk = $4 AND NOT EXISTS \
                 (SELECT 1 FROM batch_changes c WHERE c.batch_pk = $4 AND c.rkey = r.rkey)"
            ),
            format!(
                "{capture} SELECT CAST($4 AS BIGINT), c.rkey, c.uid, c.data, o.data \
                 FROM batch_changes c JOIN records o ON o.partner = $1 AND o.env = $2 \
                 AND o.iface = $3 AND o.rkey = c.rkey AND o.batch_pk = $4 WHERE {restorable}"
            ),
            format!(
                "{capture} SELECT CAST($4 AS BIGINT), c.rkey, c.uid, c.data, NULL \
                 FROM batch_changes c WHERE {restorable} AND NOT EXISTS \
                 (SELECT 1 FROM records r WHERE {SCOPE} AND r.rkey = c.rkey)"
            ),
            // Evaluated while the batch's own versions are still current; they stop being
            // current when its state becomes `reverted`, in the same transaction.
            restore,
        ],
    }
}

/// The highest migration applied (readiness probes).
pub const SCHEMA_VERSION: &str = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

/// Batches per state (the `wharf_batches` gauge).
pub const BATCH_COUNTS: &str = "SELECT state, COUNT(*) FROM batches GROUP BY state";

/// The version the code expects: the last of [`MIGRATIONS`].
pub fn latest_schema_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Records of a scope, for export.
pub const SELECT_RECORDS: &str =
    "SELECT data FROM records WHERE partner = $1 AND env = $2 AND iface = $3 ORDER BY rkey";

/// The schema, version by version. `{PK}` is the backend's spelling of an auto-numbered key,
/// `{BYTES}` its byte-order collation (so both stores order keys alike), `{BLOB}` its type
/// for raw bytes. Each store applies, in order, the versions a database has not had yet, so a
/// deployment at any earlier version is brought up to date at start-up.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
    1,
    "CREATE TABLE partners (name TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, \
       interfaces TEXT, created_unix BIGINT NOT NULL);
     CREATE TABLE users (username TEXT PRIMARY KEY, partner TEXT NOT NULL REFERENCES partners(name), \
       password_hash TEXT NOT NULL, created_unix BIGINT NOT NULL);
     CREATE TABLE tokens (token_hash TEXT PRIMARY KEY, partner TEXT NOT NULL, username TEXT, \
       expires_unix BIGINT NOT NULL);
     CREATE TABLE batches (pk {PK}, partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, \
       batch_id TEXT NOT NULL, op TEXT NOT NULL, batch_size BIGINT NOT NULL, \
       staged_rows BIGINT NOT NULL DEFAULT 0, sequences BIGINT NOT NULL DEFAULT 0, \
       state TEXT NOT NULL, failure_code TEXT NOT NULL DEFAULT '', failure_msg TEXT NOT NULL DEFAULT '', \
       transport TEXT NOT NULL, creator TEXT NOT NULL, created_unix BIGINT NOT NULL, \
       updated_unix BIGINT NOT NULL, UNIQUE (partner, env, iface, batch_id));
     CREATE INDEX batches_state ON batches (state, created_unix);
     CREATE TABLE sequences (batch_pk BIGINT NOT NULL REFERENCES batches(pk), seq_id TEXT NOT NULL, \
       seq_no BIGINT, accepted BIGINT NOT NULL, attempts BIGINT NOT NULL, updated_unix BIGINT NOT NULL, \
       PRIMARY KEY (batch_pk, seq_id));
     CREATE TABLE staged_rows (batch_pk BIGINT NOT NULL, seq_no BIGINT NOT NULL, idx BIGINT NOT NULL, \
       rkey TEXT {BYTES}, uid TEXT, data TEXT NOT NULL);
     CREATE INDEX staged_rows_rkey ON staged_rows (batch_pk, rkey);
     CREATE INDEX staged_rows_uid ON staged_rows (batch_pk, uid) WHERE uid IS NOT NULL;
     CREATE TABLE records (partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, \
       rkey TEXT {BYTES} NOT NULL, uid TEXT, data TEXT NOT NULL, batch_pk BIGINT NOT NULL, \
       PRIMARY KEY (partner, env, iface, rkey));
     CREATE UNIQUE INDEX records_uid ON records (partner, env, iface, uid) WHERE uid IS NOT NULL;
     CREATE TABLE batch_changes (batch_pk BIGINT NOT NULL, rkey TEXT NOT NULL, uid TEXT, \
       data TEXT NOT NULL, prev_batch_pk BIGINT NOT NULL);
     CREATE INDEX batch_changes_batch ON batch_changes (batch_pk);",
    ),
    (
        2,
        "CREATE TABLE files (partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, \
       name TEXT {BYTES} NOT NULL, code TEXT NOT NULL, answer TEXT NOT NULL, created_unix BIGINT NOT NULL, \
       PRIMARY KEY (partner, env, iface, name));",
    ),
    // A batch's source (its first sequence's file name) for history pages; the last
    // rejection answer of each sequence (a prost-encoded IngestBatchResponse, NULL once the
    // sequence is accepted) for result pages and abandon; a user's batches newest first.
    (
        3,
        "ALTER TABLE batches ADD COLUMN source TEXT NOT NULL DEFAULT '';
     ALTER TABLE sequences ADD COLUMN answer {BLOB};
     CREATE INDEX batches_creator ON batches (partner, creator, pk);",
    ),
    // Scheduled batches (SPEC §7.2, seed 003): the schedule (times in unix seconds, NULL when
    // none), what became of its execute and revert, who last changed it, and where it came
    // from. Batches applied before this version were instant: they read as executed by their
    // creator when they were last updated. Two indexes find due work without a scan.
    (
        4,
        "ALTER TABLE batches ADD COLUMN batch_source TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN instant_execute BIGINT NOT NULL DEFAULT 1;
     ALTER TABLE batches ADD COLUMN execute_unix BIGINT;
     ALTER TABLE batches ADD COLUMN execute_status TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN executor TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN execute_detail TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN revert_unix BIGINT;
     ALTER TABLE batches ADD COLUMN revert_status TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN reverter TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN revert_detail TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN modifier TEXT NOT NULL DEFAULT '';
     ALTER TABLE batches ADD COLUMN modified_unix BIGINT NOT NULL DEFAULT 0;
     UPDATE batches SET modifier = creator, modified_unix = updated_unix, \
       batch_source = CASE transport WHEN 'ftp' THEN 'ftp' WHEN 'upload' THEN 'excel' ELSE 'api' END;
     UPDATE batches SET execute_status = 'finished', executor = creator, execute_unix = updated_unix \
       WHERE state = 'applied';
     CREATE INDEX batches_due_execute ON batches (state, execute_unix);
     CREATE INDEX batches_due_revert ON batches (revert_status, revert_unix);",
    ),
    // Outbound push (SPEC §7.1): endpoints, the outbox of pushes and their sequences.
    (5, super::outbox::MIGRATION),
    // The outbox's sequence bodies apart from their state (recording an attempt rewrote both).
    (6, super::outbox::BODIES_MIGRATION),
    (7, super::outbox::TRACE_MIGRATION),
    // What each token was issued for (an API access token or an upload page session), so a
    // session cannot be used as an API bearer token. A token issued before cannot say what it
    // was for: every one ends (API clients fetch a new token, page users log in again).
    (
        8,
        "DELETE FROM tokens;
     ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';",
    ),
    // What each consumed sequence held (SHA-256, hex, of its operation and rows), so a resend
    // with other content is told apart from a true resend. NULL: consumed before this version.
    (9, "ALTER TABLE sequences ADD COLUMN fingerprint TEXT;"),
    // Files a file door holds under a temporary name until they are renamed (delivery by
    // rename): the bytes as received, not read.
    (
        10,
        "CREATE TABLE file_parts (partner TEXT NOT NULL, env TEXT NOT NULL, iface TEXT NOT NULL, \
       name TEXT {BYTES} NOT NULL, content {BLOB} NOT NULL, size BIGINT NOT NULL, \
       received_unix BIGINT NOT NULL, PRIMARY KEY (partner, env, iface, name)); \
     CREATE INDEX file_parts_age ON file_parts (received_unix);",
    ),
    // The SFTP door: users' authorized public keys, and the host key every SFTP door
    // presents (generated once, kept here so every replica shows the same one).
    (
        11,
        "CREATE TABLE user_keys (username TEXT NOT NULL REFERENCES users(username), \
       fingerprint TEXT NOT NULL, public_key TEXT NOT NULL, comment TEXT NOT NULL, \
       added_unix BIGINT NOT NULL, PRIMARY KEY (username, fingerprint)); \
     CREATE TABLE host_keys (name TEXT PRIMARY KEY, private_key TEXT NOT NULL, \
       created_unix BIGINT NOT NULL);",
    ),
    // The size of each delivered file, so its name answers SIZE/MDTM and stat after it was
    // consumed. NULL: delivered before this version.
    (12, "ALTER TABLE files ADD COLUMN size BIGINT;"),
    // The audit trail: who did what, when, from where (administration, logins, batches,
    // files, pushes).
    (13, super::audit::MIGRATION),
    // Partners', users' and tokens' lifecycle: disabled accounts, a rotated client secret's
    // grace, when a password changed, tokens' public ids, issue and last use.
    (14, super::accounts::MIGRATION),
    // The defender (failed logins scored per address and name, bans) and partners' source
    // address allow lists.
    (15, super::defender::MIGRATION),
    // The admin API's operators: names and their tokens' SHA-256, revoked ones kept.
    (16, super::principals::MIGRATION),
    // Consumers: the company's systems that read partners' data, principals beside operators.
    (17, super::principals::MIGRATION_CONSUMERS),
    // The change feed: events in commit order; a revert's row changes.
    (18, super::feed::MIGRATION),
    // Consumers' webhooks: subscriptions and their durable deliveries.
    (19, super::webhooks::MIGRATION),
    // The sheet doors: column mappings partners confirmed, uploads held while mapped.
    (20, super::sheets::MIGRATION),
    // "Check only" batches (the upload page): a term of the batch like its schedule. A held
    // batch with it set was checked by a trial apply and waits for a user to apply or discard
    // it; it has no execute time, so the scheduler never claims it.
    (
        21,
        "ALTER TABLE batches ADD COLUMN check_only BIGINT NOT NULL DEFAULT 0;",
    ),
    // Every row written once: staged rows are record versions, current while nothing
    // superseded them and their batch is applied (`store::versions`).
    (22, super::versions::MIGRATION),
];

/// Every column of a batch row, in the order both stores read them.
const BATCH_COLUMNS: &str = "pk, batch_id, state, op, batch_size, staged_rows, sequences, \
    failure_code, failure_msg, transport, creator, created_unix, updated_unix, env, iface, source, \
    partner, batch_source, instant_execute, execute_unix, execute_status, executor, execute_detail, \
    revert_unix, revert_status, reverter, revert_detail, modifier, modified_unix, check_only";

/// Create a batch unless it exists. `$1..$4` scope and batch_id, `$5` op, `$6` batch_size,
/// `$7` transport, `$8` creator, `$9` now, `$10` source.
pub const INSERT_BATCH: &str =
    "INSERT INTO batches (partner, env, iface, batch_id, op, batch_size, \
    state, transport, creator, created_unix, updated_unix, source, modifier, modified_unix) \
    VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $9, $10, $8, $9) \
    ON CONFLICT (partner, env, iface, batch_id) DO NOTHING";

/// One batch by scope and batch_id (`$1..$4`).
pub fn select_batch() -> String {
    format!(
        "SELECT {BATCH_COLUMNS} FROM batches \
         WHERE partner = $1 AND env = $2 AND iface = $3 AND batch_id = $4"
    )
}

/// A user's batches across every interface and environment, newest first: `$1` partner,
/// `$2` creator, `$3` only pks below this, `$4` at most this many.
pub fn select_user_batches() -> String {
    format!(
        "SELECT {BATCH_COLUMNS} FROM batches \
         WHERE partner = $1 AND creator = $2 AND pk < $3 ORDER BY pk DESC LIMIT $4"
    )
}

/// Give a batch new first-sequence terms: `$1` pk, `$2` op, `$3` batch_size, `$4` transport,
/// `$5` creator, `$6` now, `$7` source, `$8` batch_source, `$9` instant_execute (0/1),
/// `$10` execute_unix, `$11` revert_unix, `$12` revert_status, `$13` check_only (0/1), `$14`
/// the change feed's head before its keys were checked (`versions::KEYS_MAY_BE_TAKEN`).
/// Nothing has run yet: execute is idle, and so is revert when one is planned.
pub const REINIT_BATCH: &str = "UPDATE batches SET op = $2, batch_size = $3, transport = $4, \
    creator = $5, state = 'open', staged_rows = 0, sequences = 0, failure_code = '', \
    failure_msg = '', created_unix = $6, updated_unix = $6, source = $7, batch_source = $8, \
    instant_execute = $9, execute_unix = $10, revert_unix = $11, execute_status = 'idle', \
    executor = '', execute_detail = '', revert_status = $12, reverter = '', revert_detail = '', \
    modifier = $5, modified_unix = $6, check_only = $13, seen_pos = $14 WHERE pk = $1";

/// Write a batch's state and proposal: `$1` pk, `$2` state, `$3` failure code, `$4` failure
/// message, `$5` now, `$6` execute_unix, `$7` execute_status, `$8` executor, `$9`
/// execute_detail, `$10` revert_unix, `$11` revert_status, `$12` reverter, `$13`
/// revert_detail, `$14` modifier.
pub const SAVE_BATCH: &str = "UPDATE batches SET state = $2, failure_code = $3, failure_msg = $4, \
    updated_unix = $5, execute_unix = $6, execute_status = $7, executor = $8, execute_detail = $9, \
    revert_unix = $10, revert_status = $11, reverter = $12, revert_detail = $13, modifier = $14, \
    modified_unix = $5 WHERE pk = $1";

/// One batch with due scheduled work at `$1` (now), oldest first. PostgreSQL appends
/// `FOR UPDATE SKIP LOCKED`; SQLite's one writer already holds the database. A checked
/// batch (`check_only`) is held with no execute time and excluded besides: it waits for a
/// user, never for this.
pub fn select_due() -> String {
    format!(
        "SELECT {BATCH_COLUMNS} FROM batches \
         WHERE (state = 'held' AND execute_status = 'idle' AND execute_unix <= $1 \
                AND check_only = 0) \
            OR (state = 'applied' AND revert_status = 'idle' AND revert_unix <= $1) \
         ORDER BY pk LIMIT 1"
    )
}

/// `$1` pk, `$2` state, `$3` failure code, `$4` failure message, `$5` now.
pub const SET_STATE: &str = "UPDATE batches SET state = $2, failure_code = $3, failure_msg = $4, \
    updated_unix = $5 WHERE pk = $1";

/// A sequence's dedupe record by scope, batch_id (`$1..$4`) and seq_id (`$5`).
pub const SELECT_SEQUENCE: &str = "SELECT s.accepted, s.attempts, s.fingerprint FROM sequences s \
    JOIN batches b ON b.pk = s.batch_pk \
    WHERE b.partner = $1 AND b.env = $2 AND b.iface = $3 AND b.batch_id = $4 AND s.seq_id = $5";

/// `$1` pk, `$2` seq_id, `$3` now, `$4` the rejection answer (it replaces the previous one);
/// returns the attempts so far.
pub const COUNT_REJECTION: &str = "INSERT INTO sequences (batch_pk, seq_id, seq_no, accepted, attempts, updated_unix, answer) \
    VALUES ($1, $2, NULL, 0, 1, $3, $4) \
    ON CONFLICT (batch_pk, seq_id) DO UPDATE SET attempts = sequences.attempts + 1, updated_unix = $3, \
    answer = $4 RETURNING attempts";

/// Mark a sequence consumed as the batch's next: `$1` pk, `$2` seq_id, `$3` seq_no, `$4` now,
/// `$5` its content's fingerprint. An accepted sequence is no longer a rejection: its stored
/// answer goes.
pub const ACCEPT_SEQUENCE: &str =
    "INSERT INTO sequences (batch_pk, seq_id, seq_no, accepted, attempts, updated_unix, fingerprint) \
    VALUES ($1, $2, $3, 1, 0, $4, $5) \
    ON CONFLICT (batch_pk, seq_id) DO UPDATE SET accepted = 1, seq_no = $3, updated_unix = $4, \
    answer = NULL, fingerprint = $5";

/// The stored rejection answers of a batch (`$1` pk): seq_id, answer.
pub const SELECT_REJECTIONS: &str =
    "SELECT seq_id, answer FROM sequences WHERE batch_pk = $1 AND answer IS NOT NULL";

/// How many staged rows a batch (`$1` pk) holds.
pub const COUNT_STAGED_ROWS: &str = "SELECT COUNT(*) FROM staged_rows WHERE batch_pk = $1";

/// A token (`$1` hash), dropped when its session ends.
pub const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE token_hash = $1";

/// `$1` pk, `$2` rows added, `$3` now.
pub const COUNT_STAGED: &str = "UPDATE batches SET staged_rows = staged_rows + $2, \
    sequences = sequences + 1, updated_unix = $3 WHERE pk = $1";

/// Expire batches (see [`expiry::expiring`]): `$1` cut-off, `$2` now. Then their rows go.
pub const EXPIRE_BATCHES: &str = concat!(
    "UPDATE batches SET state = 'expired', updated_unix = $2 WHERE ",
    super::expiry::expiring!()
);

/// Delivered files (`$1..$3` scope, `$4` name).
pub const SELECT_FILE: &str = "SELECT name, code, answer, created_unix, size FROM files \
    WHERE partner = $1 AND env = $2 AND iface = $3 AND name = $4";
pub const SELECT_FILES: &str = "SELECT name, code, answer, created_unix, size FROM files \
    WHERE partner = $1 AND env = $2 AND iface = $3 ORDER BY name";
/// `$5` code, `$6` answer, `$7` now, `$8` the file's size. The first answer recorded for a
/// name stays.
pub const INSERT_FILE: &str =
    "INSERT INTO files (partner, env, iface, name, code, answer, created_unix, size) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (partner, env, iface, name) DO NOTHING";
pub const DELETE_FILE: &str =
    "DELETE FROM files WHERE partner = $1 AND env = $2 AND iface = $3 AND name = $4";

/// Files held under a temporary name (`$1..$3` scope, `$4` name). `$5` content, `$6` size,
/// `$7` now: a part of the same name is replaced.
pub const PUT_PART: &str =
    "INSERT INTO file_parts (partner, env, iface, name, content, size, received_unix) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (partner, env, iface, name) \
    DO UPDATE SET content = excluded.content, size = excluded.size, \
    received_unix = excluded.received_unix";
pub const SELECT_PART: &str = "SELECT name, size, received_unix, content FROM file_parts \
    WHERE partner = $1 AND env = $2 AND iface = $3 AND name = $4";
pub const SELECT_PARTS: &str = "SELECT name, size, received_unix FROM file_parts \
    WHERE partner = $1 AND env = $2 AND iface = $3 ORDER BY name";
pub const DELETE_PART: &str =
    "DELETE FROM file_parts WHERE partner = $1 AND env = $2 AND iface = $3 AND name = $4";
/// `$1`: parts received before this are removed.
pub const PRUNE_PARTS: &str = "DELETE FROM file_parts WHERE received_unix < $1";

/// Users' authorized SSH keys: `$1` username, `$2` fingerprint, `$3` key, `$4` comment,
/// `$5` now.
pub const INSERT_USER_KEY: &str = "INSERT INTO user_keys \
    (username, fingerprint, public_key, comment, added_unix) VALUES ($1, $2, $3, $4, $5)";
pub const SELECT_USER_KEYS: &str = "SELECT username, fingerprint, public_key, comment, \
    added_unix FROM user_keys WHERE username = $1 ORDER BY added_unix, fingerprint";
pub const DELETE_USER_KEY: &str = "DELETE FROM user_keys WHERE username = $1 AND fingerprint = $2";
/// Host keys: `$1` name, `$2` the key, `$3` now. The first one kept stays.
pub const INSERT_HOST_KEY: &str = "INSERT INTO host_keys (name, private_key, created_unix) \
    VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
pub const SELECT_HOST_KEY: &str = "SELECT private_key FROM host_keys WHERE name = $1";

/// Migration bookkeeping: the table of applied versions.
pub const CREATE_MIGRATIONS: &str =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_unix BIGINT NOT NULL)";
/// `$1` a migration version: a row when it was applied.
pub const MIGRATION_DONE: &str = "SELECT version FROM schema_migrations WHERE version = $1";
/// `$1` a migration version applied at `$2`.
pub const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, applied_unix) VALUES ($1, $2)";
/// `$1` a batch's pk: its sequences go (an expired batch started afresh).
pub const DROP_SEQUENCES: &str = "DELETE FROM sequences WHERE batch_pk = $1";
/// `$1` name, `$2` secret hash, `$3` interfaces, `$4` now.
pub const INSERT_PARTNER: &str =
    "INSERT INTO partners (name, secret_hash, interfaces, created_unix) VALUES ($1, $2, $3, $4)";
pub const SELECT_PARTNER: &str = "SELECT name, secret_hash, interfaces, disabled, \
    prev_secret_hash, prev_secret_until FROM partners WHERE name = $1";
/// `$1` username, `$2` partner, `$3` password hash, `$4` now.
pub const INSERT_USER: &str =
    "INSERT INTO users (username, partner, password_hash, created_unix) VALUES ($1, $2, $3, $4)";
pub const SELECT_USER: &str =
    "SELECT username, partner, password_hash, disabled FROM users WHERE username = $1";
/// `$1` the token's hash (never the token), `$2` partner, `$3` username or NULL, `$4` expiry,
/// `$5` kind, `$6` its public id, `$7` now.
pub const INSERT_TOKEN: &str = "INSERT INTO tokens (token_hash, partner, username, \
    expires_unix, kind, id, issued_unix) VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub const SELECT_TOKEN: &str = "SELECT partner, username, expires_unix, kind, id, issued_unix, \
    last_used_unix FROM tokens WHERE token_hash = $1";
/// Tokens expired at `$1`.
pub const PURGE_TOKENS: &str = "DELETE FROM tokens WHERE expires_unix <= $1";

/// SQLite spells positional parameters `?n`.
pub fn for_sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_has_statements_scoped_to_the_batch() {
        for op in [
            Operation::Insert,
            Operation::Update,
            Operation::Delete,
            Operation::All,
        ] {
            let stmts = apply_statements(op);
            // An insert writes nothing more: its versions are staged already.
            assert_eq!(stmts.is_empty(), op == Operation::Insert, "{op:?}");
            for s in &stmts {
                assert!(s.contains("$1") && s.contains("$4"), "{op:?}: {s}");
            }
        }
        assert_eq!(for_sqlite("a = $1 AND b = $4"), "a = ?1 AND b = ?4");
        for op in [Operation::Insert, Operation::Delete] {
            let r = revert_sql(op);
            for s in r.statements.iter().chain([&r.lost_count, &r.retaken_count]) {
                assert!(
                    s.contains("$1") && s.contains("$4") && !s.contains("$5"),
                    "{s}"
                );
            }
            assert!(r.lost.contains("$5") && r.retaken.contains("$5"));
        }
    }
}
