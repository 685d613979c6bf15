//! The outbox on both stores (SPEC §7.1): intake by the inbound rules, claims that never
//! share a push and keep a partner's pushes in order, leases, retry, depth. The dispatcher
//! against real receivers is tested end to end in `tests/push.rs`.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::*;
use wharf_core::audit::Origin;
use wharf_core::model::{BatchPolicy, Environment, Operation, PushState, SeqState};
use wharf_core::outbound::endpoint::{Auth, EndpointInput, Secrets};
use wharf_core::outbound::intake::{PushOutcome, PushRequest, RowSource};
use wharf_core::secret::SecretKey;
use wharf_core::store::outbox::{NewPush, Outbox, PushProgress, SeqUpdate};
use wharf_core::store::Store;
use wharf_core::{Core, CoreError};
use wharf_proto::v1::Row;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const PASSWORD: &str = "receiver-password-9";

struct Rows(Vec<Vec<Row>>);

#[async_trait::async_trait]
impl RowSource for Rows {
    async fn next_rows(&mut self) -> wharf_core::error::Result<Option<Vec<Row>>> {
        Ok(if self.0.is_empty() {
            None
        } else {
            Some(self.0.remove(0))
        })
    }
}

fn core(store: Arc<dyn Store>) -> Core {
    core_with(store, BatchPolicy::default()).with_secret_key(SecretKey::from_base64(KEY).unwrap())
}

/// The tests that claim pushes take any partner's claimable push; on the shared PostgreSQL
/// one would lease another's. They take turns.
static CLAIMS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn endpoint(core: &Core, partner: &str) {
    core.set_endpoint(
        &Origin::cli("test"),
        EndpointInput {
            partner: partner.to_string(),
            env: Environment::Prod,
            iface: "t1/bom".into(),
            url: "https://receiver.example/v1.0/scc/data/sync/t1/bom".into(),
            auth: Auth::Basic,
            auth_path: String::new(),
            client_id: String::new(),
            username: "them".into(),
            secrets: Secrets {
                password: PASSWORD.into(),
                ..Secrets::default()
            },
            allow_http: false,
        },
    )
    .await
    .expect("endpoint set");
}

fn request(partner: &str) -> PushRequest {
    PushRequest {
        partner: partner.to_string(),
        env: Environment::Prod,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        op: Operation::Insert,
        traceparent: String::new(),
    }
}

async fn queue(core: &Core, partner: &str, rows: usize) -> String {
    // In chunks of 300: sequences are cut across chunk boundaries.
    let all = bom_rows(0, rows, "push");
    let chunks = all.chunks(300).map(|c| c.to_vec()).collect();
    match core
        .push(request(partner), &mut Rows(chunks))
        .await
        .expect("push")
    {
        PushOutcome::Queued(q) => q.push_id,
        PushOutcome::Refused(a) => panic!("refused: {a:?}"),
    }
}

async fn intake_checks_rows_and_queues_sequences(store: Arc<dyn Store>) {
    let core = core(store.clone());
    let p = partner(&core).await;
    endpoint(&core, &p).await;
    let id = queue(&core, &p, 1001).await;
    assert_eq!(id.len(), 16);
    let view = core.get_push(&id).await.unwrap();
    assert_eq!((view.state.as_str(), view.rows), ("pending", 1001));
    let sizes: Vec<(String, u64, String)> = view
        .sequences
        .iter()
        .map(|s| (s.seq_id.clone(), s.rows, s.state.clone()))
        .collect();
    assert_eq!(
        sizes,
        [
            ("1".into(), 500, "pending".into()),
            ("2".into(), 500, "pending".into()),
            ("3".into(), 1, "pending".into())
        ]
    );
    // The endpoint's secret is sealed in the store.
    let rows = core.endpoints(Some(&p)).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].sealed.contains(PASSWORD) && rows[0].sealed.starts_with("v1."));

    // One bad row and one repeated key: refused whole, nothing queued.
    let mut rows = bom_rows(0, 700, "bad");
    rows[650] = row(&[("version", text("1"))]);
    rows[699] = bom_rows(3, 1, "bad").remove(0);
    let before = core.list_pushes(Some(p.clone()), None).await.unwrap().len();
    let PushOutcome::Refused(answer) = core.push(request(&p), &mut Rows(vec![rows])).await.unwrap()
    else {
        panic!("a push with a failing row must be refused");
    };
    assert_eq!(answer.code, "E00M00");
    let indexes: Vec<Vec<u32>> = answer
        .groups
        .iter()
        .map(|g| g.problems.iter().filter_map(|p| p.index).collect())
        .collect();
    assert_eq!(indexes, [vec![650], vec![699]]);
    assert_eq!(
        core.list_pushes(Some(p.clone()), None).await.unwrap().len(),
        before
    );

    // No endpoint for uat; no rows; an interface the partner may not use.
    let mut uat = request(&p);
    uat.env = Environment::Uat;
    let err = core
        .push(uat, &mut Rows(vec![bom_rows(0, 1, "x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::NotFound(_)), "{err}");
    let err = core.push(request(&p), &mut Rows(vec![])).await.unwrap_err();
    assert!(matches!(err, CoreError::Invalid(_)), "{err}");

    // Without the key nothing is taken.
    let keyless = core_with(store, BatchPolicy::default());
    let err = keyless
        .push(request(&p), &mut Rows(vec![bom_rows(0, 1, "x")]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("WHARF_SECRET_KEY"), "{err}");
}

async fn claims_keep_order_and_leases(store: Arc<dyn Store>) {
    let _claims = CLAIMS.lock().await;
    let core = core(store.clone());
    let ob = store.outbox();
    let a = partner(&core).await;
    let b = partner(&core).await;
    endpoint(&core, &a).await;
    endpoint(&core, &b).await;
    let a1 = queue(&core, &a, 2).await;
    let a2 = queue(&core, &a, 2).await;
    let b1 = queue(&core, &b, 2).await;
    let now = core.now();
    // The store may hold other tests' pushes: look only at this test's partners.
    let mut got = Vec::new();
    while let Some(p) = ob.claim_push(now, "owner-1", now + 90, &[]).await.unwrap() {
        if p.partner == a || p.partner == b {
            got.push(p.push_id.clone());
        }
    }
    // a2 waits for a1 (a partner's pushes go in order); b1 is independent.
    let got: HashSet<String> = got.into_iter().collect();
    assert_eq!(got, HashSet::from([a1.clone(), b1.clone()]));
    // Someone else cannot write to a push leased by owner-1.
    let pa1 = ob.push(&a1).await.unwrap().unwrap();
    let done = PushProgress {
        state: PushState::Delivered,
        next_seq: 2,
        next_unix: now,
        lease_until: None,
    };
    let delivered = SeqUpdate {
        seq_no: 1,
        state: SeqState::Delivered,
        attempts: 1,
        http_status: 200,
        code: "0".into(),
        msg: "request success".into(),
        answer: "{\"code\":\"0\"}".into(),
    };
    assert!(!ob
        .record_push(
            pa1.pk,
            "owner-2",
            std::slice::from_ref(&delivered),
            &done,
            now
        )
        .await
        .unwrap());
    assert!(ob
        .record_push(pa1.pk, "owner-1", &[delivered], &done, now)
        .await
        .unwrap());
    // With a1 delivered, a2 is next.
    let next = ob.claim_push(now, "owner-2", now + 90, &[]).await.unwrap();
    let mut ids = Vec::new();
    let mut next = next;
    while let Some(p) = next {
        ids.push(p.push_id);
        next = ob.claim_push(now, "owner-2", now + 90, &[]).await.unwrap();
    }
    assert!(ids.contains(&a2), "{ids:?}");
    // A busy partner's pushes are left for later.
    let a3 = queue(&core, &a, 1).await;
    let pa2 = ob.push(&a2).await.unwrap().unwrap();
    assert!(ob
        .record_push(
            pa2.pk,
            "owner-2",
            &[],
            &PushProgress {
                state: PushState::Delivered,
                next_seq: 2,
                next_unix: now,
                lease_until: None
            },
            now
        )
        .await
        .unwrap());
    let claimed = ob
        .claim_push(now, "owner-3", now + 90, std::slice::from_ref(&a))
        .await
        .unwrap();
    assert!(
        claimed.as_ref().is_none_or(|p| p.partner != a),
        "{claimed:?}"
    );
    // Once a is no longer excluded, a3 is claimable (on a shared PostgreSQL, other tests'
    // pushes may come first: claim until it shows).
    let mut ids = Vec::new();
    while let Some(p) = ob.claim_push(now, "owner-3", now + 90, &[]).await.unwrap() {
        ids.push(p.push_id);
        if ids.last() == Some(&a3) {
            break;
        }
    }
    assert_eq!(ids.last(), Some(&a3), "{ids:?}");
}

async fn concurrent_claims_never_share_a_push(store: Arc<dyn Store>) {
    let _claims = CLAIMS.lock().await;
    let core = core(store.clone());
    let mut mine = HashSet::new();
    for _ in 0..12 {
        let p = partner(&core).await;
        endpoint(&core, &p).await;
        mine.insert(queue(&core, &p, 1).await);
    }
    let now = core.now();
    let claimer = |owner: &'static str| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(p) = store
                .outbox()
                .claim_push(now, owner, now + 90, &[])
                .await
                .unwrap()
            {
                got.push(p.push_id);
            }
            got
        })
    };
    let (x, y) = (claimer("x"), claimer("y"));
    let (x, y) = (x.await.unwrap(), y.await.unwrap());
    let xs: HashSet<_> = x.iter().filter(|i| mine.contains(*i)).cloned().collect();
    let ys: HashSet<_> = y.iter().filter(|i| mine.contains(*i)).cloned().collect();
    assert!(
        xs.is_disjoint(&ys),
        "a push claimed twice: {:?}",
        xs.intersection(&ys)
    );
    assert_eq!(xs.union(&ys).cloned().collect::<HashSet<_>>(), mine);
}

async fn failed_pushes_are_retried_and_counted(store: Arc<dyn Store>) {
    let _claims = CLAIMS.lock().await;
    let core = core(store.clone());
    let ob = store.outbox();
    let p = partner(&core).await;
    endpoint(&core, &p).await;
    let id = queue(&core, &p, 600).await;
    let row = ob.push(&id).await.unwrap().unwrap();
    let now = core.now();
    // Pretend a dispatcher took it and the partner refused sequence 2.
    let mut claimed = None;
    while let Some(c) = ob.claim_push(now, "d", now + 90, &[]).await.unwrap() {
        if c.push_id == id {
            claimed = Some(c);
        }
    }
    assert!(claimed.is_some());
    let up = |seq_no, state: SeqState, code: &str| SeqUpdate {
        seq_no,
        state,
        attempts: 1,
        http_status: 200,
        code: code.into(),
        msg: "kept".into(),
        answer: format!("{{\"code\":\"{code}\"}}"),
    };
    let failed = PushProgress {
        state: PushState::Failed,
        next_seq: 2,
        next_unix: now,
        lease_until: None,
    };
    assert!(ob
        .record_push(
            row.pk,
            "d",
            &[
                up(1, SeqState::Delivered, "0"),
                up(2, SeqState::Failed, "E00V00")
            ],
            &failed,
            now
        )
        .await
        .unwrap());
    let view = core.get_push(&id).await.unwrap();
    assert_eq!(view.state, "failed");
    let s2 = &view.sequences[1];
    assert_eq!(
        (s2.state.as_str(), s2.code.as_str(), s2.msg.as_str()),
        ("failed", "E00V00", "kept")
    );
    let failed_list = core
        .list_pushes(Some(p.clone()), Some("failed".into()))
        .await
        .unwrap();
    assert_eq!(failed_list.len(), 1);

    let again = core.retry_push(&Origin::cli("test"), &id).await.unwrap();
    assert_eq!(again.state, "pending");
    let states: Vec<(&str, u32)> = again
        .sequences
        .iter()
        .map(|s| (s.state.as_str(), s.attempts))
        .collect();
    assert_eq!(states, [("delivered", 1), ("pending", 0)]);
    assert!(core.outbox_depth().await.unwrap() >= 1);
    let err = core
        .retry_push(&Origin::cli("test"), &id)
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::Precondition(_)), "{err}");
    let err = core
        .retry_push(&Origin::cli("test"), "NOSUCHPUSH000000")
        .await
        .unwrap_err();
    assert!(matches!(err, CoreError::NotFound(_)), "{err}");
    // The push comes back to a dispatcher at its failed sequence.
    let back = ob
        .claim_push(core.now(), "e", core.now() + 90, &[])
        .await
        .unwrap();
    let mut found = back.filter(|b| b.push_id == id);
    while found.is_none() {
        match ob
            .claim_push(core.now(), "e", core.now() + 90, &[])
            .await
            .unwrap()
        {
            Some(b) if b.push_id == id => found = Some(b),
            Some(_) => {}
            None => break,
        }
    }
    assert_eq!(found.map(|b| b.next_seq), Some(2));
}

/// A push of partner "nobody" (left `writing`: no claim of another test can take it), its id
/// `prefix` made unique.
async fn nobodys_push(ob: &dyn Outbox, prefix: &str) -> i64 {
    ob.create_push(&NewPush {
        push_id: unique(prefix).chars().take(16).collect(),
        partner: "nobody".into(),
        env: Environment::Prod,
        iface: "t1/bom".into(),
        operation: "insert".into(),
        created_unix: 1000,
        traceparent: String::new(),
    })
    .await
    .unwrap()
}

async fn interrupted_intake_is_purged(store: Arc<dyn Store>) {
    let ob = store.outbox();
    let pk = nobodys_push(ob, "W").await;
    ob.add_push_seqs(pk, &[(1, 1, "[{}]".into())], 1000)
        .await
        .unwrap();
    assert!(ob.purge_unsealed(2000).await.unwrap() >= 1);
    assert!(ob.seq_bodies(pk, 1, 10).await.unwrap().is_empty());
}

/// The reader's window: from a sequence on, at most `limit`, in order, each with its own body
/// and attempts (the body looked up per sequence, never another sequence's).
async fn sequences_are_read_in_windows_with_their_bodies(store: Arc<dyn Store>) {
    let ob = store.outbox();
    let pk = nobodys_push(ob, "R").await;
    let seqs: Vec<(i64, i64, String)> = (1..=10)
        .map(|n| (n, n * 10, format!("[{{\"seq\":{n}}}]")))
        .collect();
    ob.add_push_seqs(pk, &seqs[..6], 1000).await.unwrap();
    ob.add_push_seqs(pk, &seqs[6..], 1000).await.unwrap();
    let window = |got: Vec<wharf_core::store::outbox::SeqBody>| -> Vec<(i64, i64, String, i64)> {
        got.into_iter()
            .map(|s| (s.seq_no, s.rows, s.data, s.attempts))
            .collect()
    };
    let want = |from: i64, to: i64, attempts: i64| -> Vec<(i64, i64, String, i64)> {
        (from..=to)
            .map(|n| (n, n * 10, format!("[{{\"seq\":{n}}}]"), attempts))
            .collect()
    };
    assert_eq!(
        window(ob.seq_bodies(pk, 4, 3).await.unwrap()),
        want(4, 6, 0)
    );
    assert_eq!(
        window(ob.seq_bodies(pk, 9, 4).await.unwrap()),
        want(9, 10, 0)
    );
    assert_eq!(
        window(ob.seq_bodies(pk, 1, 10).await.unwrap()),
        want(1, 10, 0)
    );
    assert!(ob.seq_bodies(pk, 11, 4).await.unwrap().is_empty());
    ob.drop_push(pk).await.unwrap();
    assert!(ob.seq_bodies(pk, 1, 10).await.unwrap().is_empty());
}

// A schema of its own: claims take any due push of the store.
both_stores!(
    postgres: pg_private_store;
    intake_checks_rows_and_queues_sequences,
    claims_keep_order_and_leases,
    concurrent_claims_never_share_a_push,
    failed_pushes_are_retried_and_counted,
    interrupted_intake_is_purged,
    sequences_are_read_in_windows_with_their_bodies,
);
