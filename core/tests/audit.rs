//! The audit trail in core, on both stores: batch events recorded once each, in order, in the
//! transaction that makes them happen; filters and paging; pruning; and an action whose
//! record cannot be written does not happen.

mod common;

use std::sync::Arc;

use common::*;
use wharf_core::audit::{Entry, Filter, Kind, Origin, Record};
use wharf_core::clock::ManualClock;
use wharf_core::model::BatchPolicy;
use wharf_core::store::Store;
use wharf_core::{Core, Settings};
use wharf_proto::v1::{self as pb, Operation as Op};

fn policy() -> BatchPolicy {
    BatchPolicy {
        max_attempts: 2,
        expiry_secs: 3600,
        ..BatchPolicy::default()
    }
}

async fn trail(core: &Core, partner: &str) -> Vec<Record> {
    core.audit_list(&Filter {
        partner: Some(partner.to_string()),
        ..Filter::default()
    })
    .await
    .expect("read the trail")
}

fn actions(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| r.action.clone()).collect()
}

fn act(p: &str, batch_id: &str, action: &str) -> pb::BatchActionRequest {
    pb::BatchActionRequest {
        partner: p.to_string(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        batch_id: batch_id.into(),
        action: action.into(),
        actor: "cli:ops".into(),
    }
}

async fn batch_events_are_recorded_once_in_order(store: Arc<dyn Store>) {
    let clock = ManualClock::at(1_900_000_000);
    let core = core_with(store, policy()).with_clock(clock.clock());
    let p = partner(&core).await;
    assert_eq!(
        send(&core, &p, Op::Insert, "B1", 4, "1", bom_rows(0, 2, "a"))
            .await
            .code,
        "0"
    );
    // batch_size differs from the batch's: rejected, counted.
    let r = send(&core, &p, Op::Insert, "B1", 5, "2", bom_rows(2, 2, "a")).await;
    assert_eq!(r.code, "E00V00", "{r:?}");
    assert_eq!(
        send(&core, &p, Op::Insert, "B1", 4, "2", bom_rows(2, 2, "a"))
            .await
            .code,
        "0"
    );
    // A resend changes nothing and records nothing.
    assert_eq!(
        send(&core, &p, Op::Insert, "B1", 4, "2", bom_rows(2, 2, "a"))
            .await
            .code,
        "E00A00"
    );
    core.act_on_batch(&act(&p, "B1", "revert"))
        .await
        .expect("revert");
    // A batch its sender abandons fails.
    assert_eq!(
        send(&core, &p, Op::Insert, "B2", 4, "1", bom_rows(10, 2, "b"))
            .await
            .code,
        "0"
    );
    core.abandon_batch(&batch_ref(&p, pb::Environment::Prod, "B2"))
        .await
        .expect("abandon");
    // A batch left open past its expiry is expired by housekeeping.
    assert_eq!(
        send(&core, &p, Op::Insert, "B3", 4, "1", bom_rows(20, 2, "c"))
            .await
            .code,
        "0"
    );
    clock.advance(3601);
    core.housekeeping().await.expect("housekeeping");

    let records = trail(&core, &p).await;
    assert_eq!(
        actions(&records),
        [
            "batch.received",
            "batch.rejected",
            "batch.applied",
            "batch.reverted",
            "batch.received",
            "batch.failed",
            "batch.received",
            "batch.expired",
        ],
        "{records:#?}"
    );
    assert!(records.windows(2).all(|w| w[0].id < w[1].id));
    let first = &records[0];
    assert_eq!(
        (first.kind.as_str(), first.partner.as_str(), first.at_unix),
        ("batch", p.as_str(), 1_900_000_000)
    );
    assert_eq!(first.detail["batch_id"], "B1");
    assert_eq!(first.detail["interface"], "t1/bom");
    assert_eq!(first.detail["operation"], "insert");
    assert_eq!(records[1].detail["code"], "E00V00");
    assert_eq!(records[1].detail["seq_id"], "2");
    assert_eq!(records[2].detail["rows"], "4 rows");
    assert_eq!(
        (records[3].actor.as_str(), records[3].door.as_str()),
        ("cli:ops", "cli")
    );
    assert_eq!(records[5].detail["abandoned"], true);
    assert_eq!(
        (
            records[7].actor.as_str(),
            records[7].detail["batch_id"].as_str()
        ),
        ("core", Some("B3"))
    );

    // Filters and paging.
    let page = core
        .audit_list(&Filter {
            partner: Some(p.clone()),
            limit: 3,
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(actions(&page), actions(&records[..3]));
    let rest = core
        .audit_list(&Filter {
            partner: Some(p.clone()),
            after: Some(page[2].id),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(rest, records[3..]);
    let none = core
        .audit_list(&Filter {
            partner: Some(p.clone()),
            kind: Some(Kind::Login),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());
    let late = core
        .audit_list(&Filter {
            partner: Some(p.clone()),
            since: Some(1_900_000_000 + 3601),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(actions(&late), ["batch.expired"]);
}

async fn records_past_the_retention_are_pruned(store: Arc<dyn Store>) {
    let clock = ManualClock::at(1_950_000_000);
    let settings = Settings {
        audit_retention_secs: 86_400,
        ..Settings::default()
    };
    let core = core_on(store, settings).with_clock(clock.clock());
    let p = partner(&core).await;
    let entry = |action: &str| Entry::new(Kind::Admin, action, &p, "");
    core.audit(&Origin::cli("ops"), entry("test.old"))
        .await
        .unwrap();
    clock.advance(86_400);
    core.audit(&Origin::cli("ops"), entry("test.new"))
        .await
        .unwrap();
    clock.advance(1);
    core.housekeeping().await.expect("housekeeping");
    assert_eq!(actions(&trail(&core, &p).await), ["test.new"]);
}

both_stores!(
    postgres: pg_private_store;
    batch_events_are_recorded_once_in_order,
    records_past_the_retention_are_pruned,
);

/// With the trail's table gone, an audited action fails with a store error and nothing of it
/// happens; with the table back, the same action goes through.
async fn unrecordable_actions_do_not_happen(
    core: Core,
    break_trail: &str,
    mend_trail: &str,
    run: impl AsyncFn(&str),
) {
    let p = partner(&core).await;
    run(break_trail).await;
    let err = core
        .audit(
            &Origin::cli("ops"),
            Entry::new(Kind::Admin, "test.x", &p, ""),
        )
        .await
        .expect_err("no table, no record");
    assert!(err.to_string().contains("audit trail"), "{err}");
    let seq = Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "F1",
        batch_size: 2,
        seq_id: "1",
    }
    .request(bom_rows(0, 2, "f"));
    let failed = core.ingest(&seq).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(count(&core, &p).await, 0, "nothing applied unrecorded");
    run(mend_trail).await;
    let r = core.ingest(&seq).await.expect("ingest");
    assert!(r.applied, "{r:?}");
    assert_eq!(count(&core, &p).await, 2);
    assert_eq!(
        actions(&trail(&core, &p).await),
        ["batch.received", "batch.applied"]
    );
}

const BREAK: &str = "ALTER TABLE audit RENAME TO audit_off";
const MEND: &str = "ALTER TABLE audit_off RENAME TO audit";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unrecordable_actions_do_not_happen() {
    let dir = std::env::temp_dir().join(unique("wharf-audit"));
    let store: Arc<dyn Store> =
        Arc::new(wharf_core::store::sqlite::SqliteStore::open(&dir).unwrap());
    let file = wharf_core::store::sqlite::SqliteStore::file_in(&dir);
    let run = async |sql: &str| {
        let c = rusqlite::Connection::open(&file).unwrap();
        c.execute_batch(sql).unwrap();
    };
    unrecordable_actions_do_not_happen(core_with(store, policy()), BREAK, MEND, run).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unrecordable_actions_do_not_happen() {
    let url = pg_private_url().await;
    let store = pg_store_at(&url).await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL at WHARF_TEST_DATABASE_URL is unreachable");
    tokio::spawn(conn);
    let run = async |sql: &str| client.batch_execute(sql).await.unwrap();
    unrecordable_actions_do_not_happen(core_with(store, policy()), BREAK, MEND, run).await;
}
