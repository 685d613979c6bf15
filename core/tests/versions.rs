//! Record versions (`store::versions`): every row written once, a batch visible by its state
//! change, superseded versions compacted into the history while batches apply and readers
//! read, and revert reading the history after compaction. Both stores.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use wharf_core::model::{BatchPolicy, Environment};
use wharf_core::store::Store;
use wharf_core::Core;
use wharf_proto::v1::{self as pb, Operation as Op};

fn policy() -> BatchPolicy {
    BatchPolicy {
        max_attempts: 3,
        ..BatchPolicy::default()
    }
}

async fn revert(core: &Core, p: &str, batch_id: &str) -> pb::GetBatchResponse {
    core.act_on_batch(&action_ref(p, batch_id, "revert", "planner"))
        .await
        .expect("revert")
}

/// Compaction until nothing is left to move; how many versions moved.
async fn compact_all(core: &Core) -> u64 {
    let mut moved = 0;
    loop {
        let n = core.compact().await.expect("compact");
        moved += n;
        if n == 0 {
            return moved;
        }
    }
}

/// 8 writers replace one partner's whole data set again and again, each batch in two
/// sequences (`update` of every key, or `all`), while a compactor runs without pause and a
/// reader reads: every read is one batch's set, whole.
async fn readers_never_see_half_a_batch_under_writers_and_a_compactor(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    const N: usize = 300;
    let first = send(&core, &p, Op::All, "V0", N, "1", bom_rows(0, N, "v0")).await;
    assert!(first.applied, "{first:?}");
    let done = Arc::new(AtomicBool::new(false));
    let compactor = {
        let (core, done) = (core.clone(), done.clone());
        tokio::spawn(async move {
            let mut moved = 0;
            while !done.load(Ordering::Relaxed) {
                moved += core.compact().await.expect("compact");
                tokio::task::yield_now().await;
            }
            moved
        })
    };
    let writers: Vec<_> = (0..8usize)
        .map(|w| {
            let (core, p) = (core.clone(), p.clone());
            tokio::spawn(async move {
                for b in 0..3 {
                    let owner = format!("w{w}b{b}");
                    let op = if (w + b).is_multiple_of(2) {
                        Op::All
                    } else {
                        Op::Update
                    };
                    let id = owner.to_uppercase();
                    let half = N / 2;
                    let one = send(&core, &p, op, &id, N, "1", bom_rows(0, half, &owner)).await;
                    assert_eq!(one.code, "0", "{one:?}");
                    let two =
                        send(&core, &p, op, &id, N, "2", bom_rows(half, N - half, &owner)).await;
                    assert!(two.applied, "{two:?}");
                }
            })
        })
        .collect();
    let mut reads = 0;
    while !writers.iter().all(|w| w.is_finished()) || reads < 3 {
        let seen = owners(&core, &p, Environment::Prod).await;
        assert_eq!(seen.len(), N, "a reader saw a partial set");
        assert!(
            seen.iter().all(|o| *o == seen[0]),
            "a reader saw two batches mixed: {:?}",
            seen.iter().collect::<std::collections::BTreeSet<_>>()
        );
        reads += 1;
    }
    for w in writers {
        w.await.expect("writer");
    }
    done.store(true, Ordering::Relaxed);
    let moved = compactor.await.expect("compactor") + compact_all(&core).await;
    // 24 batches each superseded the 300 records before them.
    assert!(moved >= 24 * N as u64, "compaction moved {moved} versions");
    let last = owners(&core, &p, Environment::Prod).await;
    assert_eq!(last.len(), N);
    assert!(last.iter().all(|o| *o == last[0]));
}

/// Revert after compaction: each operation's before-image comes back from the history, and
/// the restored rows carry their earlier batch, which can be reverted in turn.
async fn revert_after_compaction(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let cases = revert_cases();
    for (op, rows) in cases {
        let p = partner(&core).await;
        let mut base = bom_rows(0, 3, "a");
        base.push(bom_with_uid("u", "a", "UID-1"));
        assert!(send(&core, &p, Op::Insert, "A", 4, "1", base).await.applied);
        let b = vec![bom("0", "b"), bom("2", "b")];
        assert!(send(&core, &p, Op::Update, "B", 2, "1", b).await.applied);
        let before_x = core
            .export(&p, Environment::Prod, "t1", "bom")
            .await
            .unwrap();
        let n = rows.len();
        let r = send(&core, &p, op, "X", n, "1", rows).await;
        assert!(r.applied, "{op:?}: {r:?}");
        let moved = compact_all(&core).await;
        if op != Op::Insert {
            assert!(moved > 0, "{op:?}: X's before-image was compacted");
        }
        let x = revert(&core, &p, "X").await;
        assert_eq!(
            (x.state.as_str(), x.revert_status.as_str()),
            ("reverted", "finished"),
            "{op:?}: {x:?}"
        );
        assert_eq!(
            core.export(&p, Environment::Prod, "t1", "bom")
                .await
                .unwrap(),
            before_x,
            "{op:?}: exactly the rows before X"
        );
        compact_all(&core).await;
        revert(&core, &p, "B").await;
        assert_eq!(
            owners(&core, &p, Environment::Prod).await,
            ["a", "a", "a", "a"],
            "{op:?}"
        );
    }
}

/// `all` over a key that has had many versions (most of them compacted): exactly the new
/// set; its revert brings back the newest version of each key, and reverting the update
/// before it the one before that.
async fn all_after_many_versions(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    const KEYS: usize = 50;
    const VERSIONS: usize = 30;
    assert!(
        send(
            &core,
            &p,
            Op::Insert,
            "V0",
            KEYS,
            "1",
            bom_rows(0, KEYS, "v0")
        )
        .await
        .applied
    );
    for v in 1..VERSIONS {
        let owner = format!("v{v}");
        let r = send(
            &core,
            &p,
            Op::Update,
            &owner,
            KEYS,
            "1",
            bom_rows(0, KEYS, &owner),
        )
        .await;
        assert!(r.applied, "{r:?}");
        if v.is_multiple_of(10) {
            compact_all(&core).await;
        }
    }
    let all = send(
        &core,
        &p,
        Op::All,
        "NEW",
        10,
        "1",
        bom_rows(1000, 10, "new"),
    )
    .await;
    assert!(all.applied, "{all:?}");
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["new"; 10]);
    compact_all(&core).await;
    revert(&core, &p, "NEW").await;
    let last = format!("v{}", VERSIONS - 1);
    assert_eq!(owners(&core, &p, Environment::Prod).await, vec![last; KEYS]);
    compact_all(&core).await;
    revert(&core, &p, &format!("v{}", VERSIONS - 1)).await;
    let before = format!("v{}", VERSIONS - 2);
    assert_eq!(
        owners(&core, &p, Environment::Prod).await,
        vec![before; KEYS]
    );
}

/// What compaction leaves: the versions of open, held (checked) and applied batches. A batch
/// half sent, compacted, then completed applies whole; so does a checked batch executed
/// after compaction.
async fn compaction_leaves_pending_and_current_versions(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    assert!(
        send(&core, &p, Op::Insert, "A", 20, "1", bom_rows(0, 20, "a"))
            .await
            .applied
    );
    let half = send(&core, &p, Op::Update, "B", 20, "1", bom_rows(0, 10, "b")).await;
    assert_eq!((half.code.as_str(), half.applied), ("0", false));
    let mut checked = Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "C",
        batch_size: 5,
        seq_id: "1",
    }
    .request(bom_rows(100, 5, "c"));
    checked.check_only = true;
    let c = core.ingest(&checked).await.expect("check");
    assert_eq!(c.code, "0", "{c:?}");
    compact_all(&core).await;
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["a"; 20]);
    let done = send(&core, &p, Op::Update, "B", 20, "2", bom_rows(10, 10, "b")).await;
    assert!(done.applied, "{done:?}");
    compact_all(&core).await;
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["b"; 20]);
    core.act_on_batch(&action_ref(&p, "C", "execute", "planner"))
        .await
        .expect("execute");
    assert_eq!(count(&core, &p).await, 25);
}

both_stores!(
    postgres: pg_private_store;
    readers_never_see_half_a_batch_under_writers_and_a_compactor,
    revert_after_compaction,
    all_after_many_versions,
    compaction_leaves_pending_and_current_versions,
);
