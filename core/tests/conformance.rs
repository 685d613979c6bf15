//! Store conformance: the same test bodies run against the embedded SQLite store and a real
//! PostgreSQL (WHARF_TEST_DATABASE_URL; unreachable is a failure, not a skip).

mod common;

use std::sync::Arc;

use common::*;
use wharf_core::batch;
use wharf_core::model::{BatchPolicy, Environment, Operation, Scope, TokenKind, Transport};
use wharf_core::store::Store;
use wharf_core::validate::SequenceInput;
use wharf_core::Core;
use wharf_proto::v1::{self as pb, Operation as Op};

fn policy() -> BatchPolicy {
    BatchPolicy {
        max_attempts: 2,
        expiry_secs: 3600,
        ..BatchPolicy::default()
    }
}

/// (row index, error type, fields) of each problem.
type Problem = (Option<u32>, String, String);

fn codes(r: &pb::IngestBatchResponse) -> (&str, Vec<Problem>) {
    let problems = r
        .problems
        .iter()
        .flat_map(|p| {
            p.verify
                .iter()
                .map(move |v| (p.index, v.r#type.clone(), v.fields.clone()))
        })
        .collect();
    (r.code.as_str(), problems)
}

async fn staged_then_applied_atomically(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let r = send(&core, &p, Op::Insert, "B1", 4, "1", bom_rows(0, 2, "a")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(!r.applied);
    assert_eq!((r.staged_rows, r.batch_size), (2, 4));
    assert!(r.msg.contains("staged 2/4"), "{}", r.msg);
    assert_eq!(count(&core, &p).await, 0, "half a batch is never visible");
    let r = send(&core, &p, Op::Insert, "B1", 4, "2", bom_rows(2, 2, "a")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(r.applied && r.msg.contains("applied"), "{r:?}");
    assert_eq!(count(&core, &p).await, 4);
    let b = core
        .get_batch(&batch_ref(&p, pb::Environment::Prod, "B1"))
        .await
        .unwrap();
    assert!(b.found);
    assert_eq!(
        (b.state.as_str(), b.staged_rows, b.sequences),
        ("applied", 4, 2)
    );
}

async fn resent_sequence_is_consumed_and_changes_nothing(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    assert_eq!(
        send(&core, &p, Op::Insert, "B", 4, "1", bom_rows(0, 2, "a"))
            .await
            .code,
        "0"
    );
    let r = send(&core, &p, Op::Insert, "B", 4, "1", bom_rows(0, 2, "a")).await;
    assert_eq!(r.code, "E00A00");
    assert_eq!(r.staged_rows, 2, "the resend staged nothing");
    assert_eq!(
        send(&core, &p, Op::Insert, "B", 4, "2", bom_rows(2, 2, "a"))
            .await
            .code,
        "0"
    );
    let r = send(&core, &p, Op::Insert, "B", 4, "2", bom_rows(2, 2, "a")).await;
    assert_eq!(r.code, "E00A00", "resend after apply is still safe");
    assert_eq!(count(&core, &p).await, 4);
}

async fn retry_limit_fails_the_batch(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let mut bad = bom("1", "a");
    bad.fields[0].value = text("");
    for attempt in 1..=2 {
        let r = send(&core, &p, Op::Insert, "B", 2, "1", vec![bad.clone()]).await;
        assert_eq!(r.code, "E00V00", "attempt {attempt}");
    }
    let r = send(&core, &p, Op::Insert, "B", 2, "1", vec![bad.clone()]).await;
    assert_eq!(r.code, "E00P00", "{r:?}");
    let r = send(&core, &p, Op::Insert, "B", 2, "2", bom_rows(5, 1, "a")).await;
    assert_eq!(r.code, "E00P00", "a failed batch takes nothing more: {r:?}");
    assert_eq!(count(&core, &p).await, 0);
    // A rejected sequence that later passes is accepted (attempts under the limit).
    let r = send(&core, &p, Op::Insert, "C", 1, "1", vec![bad]).await;
    assert_eq!(r.code, "E00V00");
    let r = send(&core, &p, Op::Insert, "C", 1, "1", bom_rows(0, 1, "a")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(count(&core, &p).await, 1);
}

async fn rows_beyond_batch_size_are_refused(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    assert_eq!(
        send(&core, &p, Op::Insert, "B", 3, "1", bom_rows(0, 2, "a"))
            .await
            .code,
        "0"
    );
    let r = send(&core, &p, Op::Insert, "B", 3, "2", bom_rows(2, 2, "a")).await;
    let (code, problems) = codes(&r);
    assert_eq!(code, "E00V00");
    assert!(problems.contains(&(None, "value not allowed".into(), "batch_size".into())));
    assert!(r.msg.contains("beyond batch_size"), "{}", r.msg);
    assert_eq!(
        send(&core, &p, Op::Insert, "B", 3, "2", bom_rows(2, 1, "a"))
            .await
            .code,
        "0"
    );
    let r = send(&core, &p, Op::Insert, "B", 3, "3", bom_rows(9, 1, "a")).await;
    assert_eq!(r.code, "E00V00", "an applied batch takes no more rows");
    // A later sequence may not change the batch's terms.
    send(&core, &p, Op::Insert, "D", 4, "1", bom_rows(20, 2, "a")).await;
    let r = send(&core, &p, Op::Insert, "D", 5, "2", bom_rows(22, 2, "a")).await;
    assert_eq!(r.code, "E00V00");
    let r = send(&core, &p, Op::Update, "D", 4, "3", bom_rows(22, 2, "a")).await;
    let (_, problems) = codes(&r);
    assert!(problems.contains(&(None, "value not allowed".into(), "operation".into())));
}

async fn the_four_operations(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let env = Environment::Prod;
    assert_eq!(
        send(&core, &p, Op::Insert, "I1", 3, "1", bom_rows(0, 3, "ins"))
            .await
            .code,
        "0"
    );
    // insert: an existing key is a write exception, with the row named.
    let r = send(&core, &p, Op::Insert, "I2", 2, "1", bom_rows(2, 2, "ins2")).await;
    let (code, problems) = codes(&r);
    assert_eq!(code, "E00W00");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].0, Some(0));
    assert_eq!(problems[0].1, "duplicate key");
    // update: upsert by business key.
    let r = send(&core, &p, Op::Update, "U1", 2, "1", bom_rows(2, 2, "upd")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(owners(&core, &p, env).await, ["ins", "ins", "upd", "upd"]);
    // delete: absent rows are not an error; only key fields are needed.
    let key_only = |k: &str| {
        row(&[
            ("vendor_code", text("V001")),
            ("vendor_father_item", text(&format!("VF-{k}"))),
            ("father_item", text("F-1")),
            ("vendor_child_item", text("N/A")),
            ("version", text("20220914")),
        ])
    };
    let r = send(
        &core,
        &p,
        Op::Delete,
        "D1",
        2,
        "1",
        vec![key_only("0"), key_only("404")],
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(owners(&core, &p, env).await, ["ins", "upd", "upd"]);
    // all: the whole set is replaced.
    let r = send(&core, &p, Op::All, "A1", 2, "1", bom_rows(7, 2, "all")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(owners(&core, &p, env).await, ["all", "all"]);
}

async fn uid_matches_before_business_key(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let r = send(
        &core,
        &p,
        Op::Insert,
        "I",
        1,
        "1",
        vec![bom_with_uid("1", "first", "U1")],
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    // Same uid, another business key: the record is replaced, not duplicated.
    let r = send(
        &core,
        &p,
        Op::Update,
        "U",
        1,
        "1",
        vec![bom_with_uid("2", "moved", "U1")],
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    let rows = core
        .export(&p, Environment::Prod, "t1", "bom")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].contains("VF-2") && rows[0].contains("moved"));
    // Insert of a taken uid is a write exception.
    let r = send(
        &core,
        &p,
        Op::Insert,
        "I2",
        1,
        "1",
        vec![bom_with_uid("3", "x", "U1")],
    )
    .await;
    assert_eq!(
        codes(&r).1,
        vec![(Some(0), "duplicate key".into(), "uid".into())]
    );
    // Delete by uid alone.
    let r = send(
        &core,
        &p,
        Op::Delete,
        "D",
        1,
        "1",
        vec![row(&[("uid", text("U1"))])],
    )
    .await;
    assert_eq!(r.code, "0", "{r:?}");
    assert_eq!(count(&core, &p).await, 0);
}

async fn partners_and_environments_are_isolated(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let a = partner(&core).await;
    let b = partner(&core).await;
    for p in [&a, &b] {
        let r = send(&core, p, Op::Insert, "SAME", 2, "1", bom_rows(0, 2, p)).await;
        assert_eq!(
            r.code, "0",
            "same batch_id and keys for another partner: {r:?}"
        );
    }
    let uat = Seq {
        partner: &a,
        env: pb::Environment::Uat,
        op: Op::Insert,
        batch_id: "SAME",
        batch_size: 1,
        seq_id: "1",
    };
    let r = core
        .ingest(&uat.request(bom_rows(0, 1, "uat")))
        .await
        .unwrap();
    assert_eq!(r.code, "0", "uat is its own space: {r:?}");
    assert_eq!(
        owners(&core, &a, Environment::Prod).await,
        [a.as_str(), a.as_str()]
    );
    assert_eq!(
        owners(&core, &b, Environment::Prod).await,
        [b.as_str(), b.as_str()]
    );
    assert_eq!(owners(&core, &a, Environment::Uat).await, ["uat"]);
    // An `all` from b replaces only b's set.
    send(&core, &b, Op::All, "ALL", 1, "1", bom_rows(5, 1, "b-all")).await;
    assert_eq!(count(&core, &a).await, 2);
    assert_eq!(owners(&core, &b, Environment::Prod).await, ["b-all"]);
}

async fn mixed_failures_answer_e00m00(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    send(&core, &p, Op::Insert, "B", 4, "1", bom_rows(0, 2, "a")).await;
    let mut bad = bom("9", "a");
    bad.fields[5].value = number("12345678901.5");
    // Row 0 is invalid, row 1 repeats a key staged by sequence 1 of this batch.
    let r = send(
        &core,
        &p,
        Op::Insert,
        "B",
        4,
        "2",
        vec![bad, bom("1", "again")],
    )
    .await;
    assert_eq!(r.code, "E00M00", "{r:?}");
    let groups: Vec<(&str, usize)> = r
        .groups
        .iter()
        .map(|g| (g.code.as_str(), g.problems.len()))
        .collect();
    assert_eq!(groups, [("E00V00", 1), ("E00W00", 1)]);
    assert_eq!(
        r.groups[0].problems[0].verify[0].r#type,
        "number precision exceed"
    );
    assert_eq!(r.groups[1].problems[0].index, Some(1));
}

async fn key_taken_while_open_fails_at_apply(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    assert_eq!(
        send(
            &core,
            &p,
            Op::Insert,
            "SLOW",
            2,
            "1",
            bom_rows(0, 1, "slow")
        )
        .await
        .code,
        "0"
    );
    assert_eq!(
        send(
            &core,
            &p,
            Op::Insert,
            "FAST",
            1,
            "1",
            bom_rows(0, 1, "fast")
        )
        .await
        .code,
        "0"
    );
    let r = send(
        &core,
        &p,
        Op::Insert,
        "SLOW",
        2,
        "2",
        bom_rows(1, 1, "slow"),
    )
    .await;
    assert_eq!(r.code, "E00W00", "{r:?}");
    assert_eq!(
        owners(&core, &p, Environment::Prod).await,
        ["fast"],
        "nothing of SLOW landed"
    );
    let r = send(
        &core,
        &p,
        Op::Insert,
        "SLOW",
        2,
        "3",
        bom_rows(2, 1, "slow"),
    )
    .await;
    assert_eq!(
        r.code, "E00W00",
        "the failed batch keeps answering its failure"
    );
    for seq_id in ["2", "1"] {
        let r = send(
            &core,
            &p,
            Op::Insert,
            "SLOW",
            2,
            seq_id,
            bom_rows(0, 1, "slow"),
        )
        .await;
        assert_eq!(
            r.code, "E00W00",
            "a retry of consumed sequence {seq_id} of a failed batch is not 'consumed': {r:?}"
        );
    }
}

async fn abandoned_batches_expire(store: Arc<dyn Store>) {
    let core = core_with(store.clone(), policy());
    let p = partner(&core).await;
    let scope = Scope {
        partner: p.clone(),
        env: Environment::Prod,
        iface: "t1/bom".into(),
    };
    let iface = core.registry().get("t1", "bom").unwrap().clone();
    let send_at = |seq_id: &'static str, rows: Vec<pb::Row>, now: i64| {
        let store = store.clone();
        let scope = scope.clone();
        let iface = iface.clone();
        let p = p.clone();
        async move {
            let req = Seq {
                partner: &p,
                env: pb::Environment::Prod,
                op: Op::Insert,
                batch_id: "OLD",
                batch_size: 2,
                seq_id,
            }
            .request(rows);
            let seq = batch::Sequence {
                scope: &scope,
                iface: &iface,
                creator: "test",
                source: "",
                schedule: Default::default(),
                check_only: false,
                input: SequenceInput {
                    partner: &p,
                    operation: Operation::Insert,
                    transport: Transport::Grpc,
                    batch_id: req.batch_id.as_ref(),
                    batch_size: req.batch_size.as_ref(),
                    seq_id: req.seq_id.as_ref(),
                    seq_size: req.seq_size.as_ref(),
                    app_name: None,
                    has_data: true,
                    rows: &req.rows,
                    unknown_envelope_fields: &[],
                    unreadable: "",
                    mistyped_envelope_fields: &[],
                },
            };
            batch::ingest(store.as_ref(), policy(), seq, now)
                .await
                .unwrap()
        }
    };
    let t0 = 1_000_000;
    assert_eq!(send_at("1", bom_rows(0, 1, "x"), t0).await.code, "0");
    // Housekeeping expires it and drops its staged rows.
    assert_eq!(store.expire_batches(t0 + 1, t0 + 2).await.unwrap(), 1);
    assert_eq!(
        store
            .batch(&scope, "OLD")
            .await
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "expired"
    );
    // The same batch_id starts again from nothing: sequence 1 is new again.
    let r = send_at("1", bom_rows(0, 1, "x"), t0 + 10).await;
    assert_eq!((r.code.as_str(), r.staged_rows), ("0", 1), "{r:?}");
    // Past the expiry time, a sequence also finds the batch discarded.
    let r = send_at("2", bom_rows(1, 1, "x"), t0 + 10 + 3600).await;
    assert_eq!(
        (r.code.as_str(), r.staged_rows, r.applied),
        ("0", 1, false),
        "{r:?}"
    );
}

async fn readers_never_see_half_a_batch(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    const N: usize = 3000;
    assert_eq!(
        send(&core, &p, Op::All, "V1", N, "1", bom_rows(0, N, "v1"))
            .await
            .code,
        "0"
    );
    let writer = {
        let core = core.clone();
        let p = p.clone();
        tokio::spawn(async move {
            for v in 2..6 {
                let owner = format!("v{v}");
                let r = send(
                    &core,
                    &p,
                    Op::All,
                    &owner.to_uppercase(),
                    N,
                    "1",
                    bom_rows(v * 10, N, &owner),
                )
                .await;
                assert_eq!(r.code, "0");
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads < 3 {
        let seen = owners(&core, &p, Environment::Prod).await;
        assert_eq!(seen.len(), N, "a reader saw a partial set");
        assert!(
            seen.iter().all(|o| *o == seen[0]),
            "a reader saw two batches mixed"
        );
        reads += 1;
    }
    writer.await.unwrap();
    assert_eq!(owners(&core, &p, Environment::Prod).await[0], "v5");
}

async fn concurrent_sequences_of_one_batch(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    const SEQS: usize = 16;
    const ROWS: usize = 50;
    let send_all = |core: Core, p: String| async move {
        let tasks: Vec<_> = (0..SEQS)
            .map(|s| {
                let core = core.clone();
                let p = p.clone();
                tokio::spawn(async move {
                    send(
                        &core,
                        &p,
                        Op::Insert,
                        "PAR",
                        SEQS * ROWS,
                        &s.to_string(),
                        bom_rows(s * ROWS, ROWS, "par"),
                    )
                    .await
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    };
    let answers = send_all(core.clone(), p.clone()).await;
    assert!(answers.iter().all(|r| r.code == "0"), "{answers:?}");
    assert_eq!(answers.iter().filter(|r| r.applied).count(), 1);
    let mut staged: Vec<u64> = answers.iter().map(|r| r.staged_rows).collect();
    staged.sort();
    let expected: Vec<u64> = (1..=SEQS as u64).map(|i| i * ROWS as u64).collect();
    assert_eq!(staged, expected, "no lost or double-counted rows");
    assert_eq!(count(&core, &p).await, SEQS * ROWS);
    let again = send_all(core.clone(), p.clone()).await;
    assert!(again.iter().all(|r| r.code == "E00A00"), "{again:?}");
    assert_eq!(count(&core, &p).await, SEQS * ROWS);
}

async fn credentials_round_trip(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = unique("P");
    core.add_partner(
        &wharf_core::audit::Origin::cli("test"),
        &p,
        "client-secret-1",
        Some(vec!["odm/master_data".into()]),
    )
    .await
    .unwrap();
    assert!(matches!(
        core.add_partner(
            &wharf_core::audit::Origin::cli("test"),
            &p,
            "client-secret-1",
            None
        )
        .await,
        Err(wharf_core::CoreError::Conflict(_))
    ));
    let u = user_of(&core, &p).await;
    assert!(core
        .add_user(
            &wharf_core::audit::Origin::cli("test"),
            &unique("u"),
            "nobody",
            "password-1"
        )
        .await
        .is_err());
    let who = core.authenticate(&here(), &u, "password-1").await.unwrap();
    assert_eq!(who.partner, p);
    assert_eq!(who.interfaces, ["odm/master_data"]);
    assert!(core.authenticate(&here(), &u, "password-2").await.is_err());
    assert!(core
        .authenticate(&here(), "ghost", "password-1")
        .await
        .is_err());
    let grant = |grant: &str, secret: &str, user: &str, pw: &str| pb::IssueTokenRequest {
        caller: None,
        grant_type: grant.into(),
        client_id: p.clone(),
        client_secret: secret.into(),
        username: user.into(),
        password: pw.into(),
    };
    let t = core
        .issue_token(
            &here(),
            &grant("client_credentials", "client-secret-1", "", ""),
        )
        .await
        .unwrap();
    assert_eq!((t.token_type.as_str(), t.expires_in), ("Bearer", 3600));
    let who = core
        .verify_token(&here(), &t.access_token, TokenKind::Api)
        .await
        .unwrap();
    assert_eq!(
        (who.partner.as_str(), who.user.as_deref()),
        (p.as_str(), None)
    );
    let t = core
        .issue_token(
            &here(),
            &grant("password", "client-secret-1", &u, "password-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        core.verify_token(&here(), &t.access_token, TokenKind::Api)
            .await
            .unwrap()
            .user
            .as_deref(),
        Some(u.as_str())
    );
    assert!(core
        .issue_token(&here(), &grant("client_credentials", "wrong", "", ""))
        .await
        .is_err());
    assert!(core
        .issue_token(&here(), &grant("password", "client-secret-1", &u, "nope"))
        .await
        .is_err());
    assert!(core
        .verify_token(&here(), "garbage", TokenKind::Api)
        .await
        .is_err());
    // The partner may not use t1/bom: it does not exist for it.
    let r = core
        .ingest(
            &Seq {
                partner: &p,
                env: pb::Environment::Prod,
                op: Op::Insert,
                batch_id: "B",
                batch_size: 1,
                seq_id: "1",
            }
            .request(bom_rows(0, 1, "x")),
        )
        .await;
    assert!(
        matches!(r, Err(wharf_core::CoreError::NotFound(_))),
        "{r:?}"
    );
}

/// Files held under a temporary name: kept whole, replaced by a new upload of the name,
/// listed by name with size and time, per scope, deleted, and pruned by age.
async fn file_parts_are_kept_until_renamed_or_old(store: Arc<dyn Store>) {
    let scope = |partner: &str, env: Environment| Scope {
        partner: partner.into(),
        env,
        iface: "t1/bom".into(),
    };
    let p = wharf_testkit::unique("P");
    let mine = scope(&p, Environment::Prod);
    let uat = scope(&p, Environment::Uat);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    store
        .put_part(&mine, "a.json.part", &big, 100)
        .await
        .unwrap();
    store
        .put_part(&mine, ".in.b.csv.", b"x,y\n", 200)
        .await
        .unwrap();
    store
        .put_part(&uat, "a.json.part", b"uat", 300)
        .await
        .unwrap();
    let (info, bytes) = store.part(&mine, "a.json.part").await.unwrap().unwrap();
    assert_eq!((info.size, info.received_unix), (300_000, 100));
    assert_eq!(bytes, big, "kept byte for byte");
    // A second upload of the name replaces the first.
    store
        .put_part(&mine, "a.json.part", b"new", 150)
        .await
        .unwrap();
    let (info, bytes) = store.part(&mine, "a.json.part").await.unwrap().unwrap();
    assert_eq!(
        (info.size, info.received_unix, bytes),
        (3, 150, b"new".to_vec())
    );
    let names = |parts: Vec<wharf_core::store::PartRow>| {
        parts.into_iter().map(|p| p.name).collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.parts(&mine).await.unwrap()),
        [".in.b.csv.", "a.json.part"]
    );
    assert_eq!(names(store.parts(&uat).await.unwrap()), ["a.json.part"]);
    assert!(store.delete_part(&mine, "a.json.part").await.unwrap());
    assert!(!store.delete_part(&mine, "a.json.part").await.unwrap());
    assert!(store.part(&mine, "a.json.part").await.unwrap().is_none());
    // Housekeeping: everything received before 250 goes (other tests' parts are newer).
    assert!(store.prune_parts(250).await.unwrap() >= 1);
    assert!(store.parts(&mine).await.unwrap().is_empty());
    assert_eq!(names(store.parts(&uat).await.unwrap()), ["a.json.part"]);

    // Through core: housekeeping removes what is older than the configured age, and only
    // that (one test: its clock's pruning would reach another test's parts).
    let clock = wharf_core::clock::ManualClock::at(1_000_000);
    let core = core_on(
        store.clone(),
        wharf_core::Settings {
            part_max_age_secs: 60,
            ..wharf_core::Settings::default()
        },
    )
    .with_clock(clock.clock());
    let p = partner(&core).await;
    let file = |name: &str| pb::FileRef {
        partner: p.clone(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        name: name.into(),
    };
    let put = |name: &str| pb::PutFilePartRequest {
        file: Some(file(name)),
        content: b"held".to_vec(),
    };
    core.put_file_part(&put("old.json.part")).await.unwrap();
    clock.advance(30);
    core.put_file_part(&put("young.json.part")).await.unwrap();
    clock.advance(31);
    core.housekeeping().await.unwrap();
    assert!(
        !core
            .get_file_part(&file("old.json.part"))
            .await
            .unwrap()
            .found
    );
    let young = core.get_file_part(&file("young.json.part")).await.unwrap();
    assert!(young.found);
    assert_eq!(young.content, b"held");
    // A name no file door may use is refused, by name.
    let err = core.put_file_part(&put("a\u{0}b.part")).await.unwrap_err();
    assert!(err.to_string().contains("file name"), "{err}");
}

async fn file_deliveries_are_answered_once_and_kept(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let delivery = |name: &str, bad: &str, rows: Vec<pb::Row>| {
        let mut req = Seq {
            partner: &p,
            env: pb::Environment::Prod,
            op: Op::Insert,
            batch_id: "F1",
            batch_size: rows.len(),
            seq_id: "1",
        }
        .request(rows);
        req.transport = pb::Transport::Ftp as i32;
        req.source = name.to_string();
        req.bad_source = bad.to_string();
        req
    };
    let name = "bom_insert_20221001003000_1";
    let r = core
        .ingest(&delivery(name, "", bom_rows(0, 2, "ftp")))
        .await
        .unwrap();
    assert_eq!(r.code, "0", "{r:?}");
    // The same name again: not read again, whatever it holds now.
    let r = core
        .ingest(&delivery(name, "", bom_rows(5, 1, "ftp")))
        .await
        .unwrap();
    assert_eq!(r.code, "E00A00", "{r:?}");
    assert!(
        r.msg.contains(name) && r.msg.contains("answered 0"),
        "{}",
        r.msg
    );
    assert_eq!(count(&core, &p).await, 2);
    // A name that breaks the door's rule is answered E00V00 on "file name", nothing read.
    let bad = "oops.txt";
    let r = core
        .ingest(&delivery(
            bad,
            "unknown extension .txt",
            bom_rows(7, 1, "x"),
        ))
        .await
        .unwrap();
    assert_eq!(
        codes(&r).1,
        vec![(None, "value not allowed".into(), "file name".into())]
    );
    assert!(r.msg.contains("unknown extension"), "{}", r.msg);
    assert_eq!(count(&core, &p).await, 2);
    let list = |core: Core, p: String| async move {
        core.list_files(&pb::ListFilesRequest {
            partner: p,
            environment: pb::Environment::Prod as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
        })
        .await
        .unwrap()
    };
    let files = list(core.clone(), p.clone()).await;
    let listed: Vec<(&str, &str)> = files
        .iter()
        .map(|f| (f.name.as_str(), f.code.as_str()))
        .collect();
    assert_eq!(
        listed,
        [(name, "E00A00"), (bad, "E00V00")],
        "by name; a re-delivered name's feedback says it was consumed"
    );
    let file_ref = |n: &str| pb::FileRef {
        partner: p.clone(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        name: n.into(),
    };
    let got = core.get_file(&file_ref(name)).await.unwrap();
    assert!(got.found);
    let answer: serde_json::Value = serde_json::from_str(&got.answer).unwrap();
    assert_eq!(answer["code"], "E00A00");
    assert!(
        answer["msg"].as_str().unwrap().contains("answered 0"),
        "{answer}"
    );
    let r = core
        .ingest(&delivery(name, "", bom_rows(5, 1, "ftp")))
        .await
        .unwrap();
    assert_eq!(r.code, "E00A00", "a third delivery too: {r:?}");
    assert_eq!(got.info.unwrap().answer_size, got.answer.len() as u64);
    assert!(!core.get_file(&file_ref("nope")).await.unwrap().found);
    // UAT keeps its own files.
    let mut uat = file_ref(name);
    uat.environment = pb::Environment::Uat as i32;
    assert!(!core.get_file(&uat).await.unwrap().found);
    // Deleting the feedback forgets the name: it may be delivered again.
    assert!(core.delete_file(&file_ref(bad)).await.unwrap());
    assert!(!core.delete_file(&file_ref(bad)).await.unwrap());
    assert_eq!(list(core.clone(), p.clone()).await.len(), 1);
}

/// A t1/bom row whose `quantity_per` breaks its decimal rule, read from sheet row `line`.
fn invalid_row(key: &str, line: u32) -> pb::Row {
    let mut r = bom(key, "bad");
    r.fields[5].value = number("12345678901.5");
    r.line = line;
    r
}

fn seq_ids(b: &pb::GetBatchResponse) -> Vec<&str> {
    b.rejections.iter().map(|r| r.seq_id.as_str()).collect()
}

async fn rejection_answers_are_kept_until_accepted(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let mut first = Seq {
        partner: &p,
        env: pb::Environment::Uat,
        op: Op::Insert,
        batch_id: "R",
        batch_size: 6,
        seq_id: "1",
    }
    .request(bom_rows(0, 2, "a"));
    first.source = "plan.xlsx".into();
    first.user = "alice".into();
    assert_eq!(core.ingest(&first).await.unwrap().code, "0");
    let uat = |seq_id: &'static str, rows: Vec<pb::Row>| {
        let mut req = Seq {
            partner: &p,
            env: pb::Environment::Uat,
            op: Op::Insert,
            batch_id: "R",
            batch_size: 6,
            seq_id,
        }
        .request(rows);
        req.source = "another-name.xlsx".into();
        req
    };
    // "10" before "2": rejections come back in sequence order, not arrival order.
    let dup = core
        .ingest(&uat("10", bom_rows(1, 1, "dup")))
        .await
        .unwrap();
    assert_eq!(dup.code, "E00W00", "{dup:?}");
    let bad = core
        .ingest(&uat("2", vec![bom("5", "ok"), invalid_row("6", 7)]))
        .await
        .unwrap();
    assert_eq!(bad.code, "E00V00", "{bad:?}");
    let b = core
        .get_batch(&with_rejections(batch_ref(&p, pb::Environment::Uat, "R")))
        .await
        .unwrap();
    assert_eq!(seq_ids(&b), ["2", "10"]);
    assert_eq!(b.rejections[0].answer.as_ref(), Some(&bad), "kept exactly");
    assert_eq!(b.rejections[1].answer.as_ref(), Some(&dup));
    let problem = &b.rejections[0].answer.as_ref().unwrap().problems[0];
    assert_eq!(problem.index, Some(1));
    assert_eq!(problem.verify[0].r#type, "number precision exceed");
    let row = problem.row.as_ref().unwrap();
    assert_eq!(row.line, 7, "the sheet row survives the round trip");
    assert_eq!(row, &invalid_row("6", 7));
    // What the batch says about itself.
    assert_eq!(
        (
            b.environment,
            b.data_category.as_str(),
            b.biz_key.as_str(),
            b.source.as_str(),
            b.creator.as_str(),
            b.state.as_str(),
        ),
        (
            pb::Environment::Uat as i32,
            "t1",
            "bom",
            "plan.xlsx",
            "alice",
            "open"
        ),
        "{b:?}"
    );
    let plain = core
        .get_batch(&batch_ref(&p, pb::Environment::Uat, "R"))
        .await
        .unwrap();
    assert!(plain.rejections.is_empty(), "only when asked for");
    assert_eq!(plain.source, "plan.xlsx");
    // A later rejection of the same sequence replaces its answer.
    let again = core
        .ingest(&uat("10", vec![invalid_row("8", 3)]))
        .await
        .unwrap();
    assert_eq!(again.code, "E00V00");
    // Accepted after rejected: its answer goes.
    assert_eq!(
        core.ingest(&uat("2", bom_rows(5, 2, "ok")))
            .await
            .unwrap()
            .code,
        "0"
    );
    let b = core
        .get_batch(&with_rejections(batch_ref(&p, pb::Environment::Uat, "R")))
        .await
        .unwrap();
    assert_eq!(seq_ids(&b), ["10"]);
    assert_eq!(b.rejections[0].answer.as_ref(), Some(&again));
    assert_eq!(b.source, "plan.xlsx", "the first sequence names the batch");
    // Prod has no such batch.
    let prod = core
        .get_batch(&with_rejections(batch_ref(&p, pb::Environment::Prod, "R")))
        .await
        .unwrap();
    assert!(!prod.found && prod.rejections.is_empty());
}

async fn abandon_fails_an_open_batch(store: Arc<dyn Store>) {
    let core = core_with(store.clone(), policy());
    let p = partner(&core).await;
    let prod = |id: &str| batch_ref(&p, pb::Environment::Prod, id);
    // Two E00V00 rejections: the batch fails E00V00 and its staged rows go.
    assert_eq!(
        send(&core, &p, Op::Insert, "V", 6, "1", bom_rows(0, 2, "v"))
            .await
            .code,
        "0"
    );
    for seq_id in ["2", "3"] {
        let r = send(
            &core,
            &p,
            Op::Insert,
            "V",
            6,
            seq_id,
            vec![invalid_row("9", 2)],
        )
        .await;
        assert_eq!(r.code, "E00V00");
    }
    let pk = core.get_batch(&prod("V")).await.unwrap().cursor as i64;
    assert_eq!(store.staged_count(pk).await.unwrap(), 2);
    let b = core.abandon_batch(&prod("V")).await.unwrap();
    assert_eq!(
        (b.state.as_str(), b.failure_code.as_str()),
        ("failed", "E00V00"),
        "{b:?}"
    );
    assert_eq!(
        b.failure_msg,
        "abandoned by its sender: 2 of its sequences were rejected"
    );
    assert_eq!(seq_ids(&b), ["2", "3"], "answered with its rejections");
    assert_eq!(
        store.staged_count(pk).await.unwrap(),
        0,
        "staged rows dropped"
    );
    let r = send(&core, &p, Op::Insert, "V", 6, "4", bom_rows(2, 4, "v")).await;
    assert_eq!(r.code, "E00V00", "a later sequence gets the failure: {r:?}");
    assert!(
        r.msg.contains("has failed: abandoned by its sender"),
        "{}",
        r.msg
    );
    assert!(r.problems.is_empty());
    let r = send(&core, &p, Op::Insert, "V", 6, "1", bom_rows(0, 2, "v")).await;
    assert_eq!(r.code, "E00V00", "even a consumed one");
    assert_eq!(count(&core, &p).await, 0);
    // A second abandon changes nothing.
    let again = core.abandon_batch(&prod("V")).await.unwrap();
    assert_eq!(again.failure_msg, b.failure_msg);
    // Mixed E00V00 and E00W00: E00M00.
    send(&core, &p, Op::Insert, "M", 6, "1", bom_rows(0, 1, "m")).await;
    let r = send(&core, &p, Op::Insert, "M", 6, "2", bom_rows(0, 1, "m")).await;
    assert_eq!(r.code, "E00W00");
    let r = send(
        &core,
        &p,
        Op::Insert,
        "M",
        6,
        "3",
        vec![invalid_row("4", 2)],
    )
    .await;
    assert_eq!(r.code, "E00V00");
    let b = core.abandon_batch(&prod("M")).await.unwrap();
    assert_eq!(
        (b.state.as_str(), b.failure_code.as_str()),
        ("failed", "E00M00")
    );
    // No rejection stored: -1.
    send(&core, &p, Op::Insert, "N", 6, "1", bom_rows(0, 1, "n")).await;
    let b = core.abandon_batch(&prod("N")).await.unwrap();
    assert_eq!(
        (b.state.as_str(), b.failure_code.as_str()),
        ("failed", "-1")
    );
    // An applied batch stays applied, its records too.
    send(&core, &p, Op::Insert, "A", 2, "1", bom_rows(10, 1, "a")).await;
    let r = send(&core, &p, Op::Insert, "A", 2, "2", bom_rows(11, 1, "a")).await;
    assert!(r.applied);
    let b = core.abandon_batch(&prod("A")).await.unwrap();
    assert_eq!(
        (b.state.as_str(), b.failure_code.as_str(), b.staged_rows),
        ("applied", "", 2)
    );
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["a", "a"]);
    // Unknown batch, or another partner's: NotFound.
    assert!(matches!(
        core.abandon_batch(&prod("NOPE")).await,
        Err(wharf_core::CoreError::NotFound(_))
    ));
    let other = partner(&core).await;
    let r = core
        .abandon_batch(&batch_ref(&other, pb::Environment::Prod, "A"))
        .await;
    assert!(
        matches!(r, Err(wharf_core::CoreError::NotFound(_))),
        "{r:?}"
    );
    let r = core
        .abandon_batch(&batch_ref(&p, pb::Environment::Uat, "A"))
        .await;
    assert!(
        matches!(r, Err(wharf_core::CoreError::NotFound(_))),
        "{r:?}"
    );
}

/// One t1/bom sequence of `user` (rejected when `rows` is empty: a batch row all the same).
async fn send_as(
    core: &Core,
    p: &str,
    user: &str,
    env: pb::Environment,
    batch_id: &str,
    rows: Vec<pb::Row>,
) {
    let mut req = Seq {
        partner: p,
        env,
        op: Op::Insert,
        batch_id,
        batch_size: rows.len().max(1),
        seq_id: "1",
    }
    .request(rows);
    req.user = user.to_string();
    core.ingest(&req).await.unwrap();
}

async fn list_batches_of_one_user(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let other = partner(&core).await;
    let (uat, prod) = (pb::Environment::Uat, pb::Environment::Prod);
    send_as(&core, &p, "alice", prod, "A1", bom_rows(0, 1, "x")).await;
    send_as(&core, &p, "bob", prod, "B1", bom_rows(1, 1, "x")).await;
    send_as(&core, &p, "alice", uat, "A2", bom_rows(0, 1, "x")).await;
    send_as(&core, &p, "alice", prod, "A3", vec![invalid_row("2", 2)]).await;
    send_as(&core, &other, "alice", prod, "O1", bom_rows(0, 1, "x")).await;
    send_as(&core, &p, "alice", prod, "A4", bom_rows(3, 1, "x")).await;
    let list = |user: &str, limit: u32, before: u64| pb::ListBatchesRequest {
        partner: p.clone(),
        user: user.into(),
        limit,
        before,
    };
    let all = core
        .list_batches(&list("alice", 0, 0))
        .await
        .unwrap()
        .batches;
    let ids: Vec<&str> = all.iter().map(|b| b.batch_id.as_str()).collect();
    assert_eq!(ids, ["A4", "A3", "A2", "A1"], "newest first, alice's only");
    let a2 = &all[2];
    assert_eq!(
        (
            a2.found,
            a2.environment,
            a2.data_category.as_str(),
            a2.biz_key.as_str(),
            a2.state.as_str(),
            a2.creator.as_str(),
            a2.source.as_str(),
        ),
        (true, uat as i32, "t1", "bom", "applied", "alice", "test")
    );
    assert_eq!(all[1].state, "open");
    assert!(all.iter().all(|b| b.rejections.is_empty()));
    assert!(all.windows(2).all(|w| w[0].cursor > w[1].cursor));
    // Paging: `before` = the last cursor seen.
    let page1 = core
        .list_batches(&list("alice", 3, 0))
        .await
        .unwrap()
        .batches;
    assert_eq!(page1.len(), 3);
    let page2 = core
        .list_batches(&list("alice", 3, page1[2].cursor))
        .await
        .unwrap()
        .batches;
    let ids: Vec<&str> = page2.iter().map(|b| b.batch_id.as_str()).collect();
    assert_eq!(ids, ["A1"]);
    let page3 = core
        .list_batches(&list("alice", 3, page2[0].cursor))
        .await
        .unwrap()
        .batches;
    assert!(page3.is_empty());
    let bob = core.list_batches(&list("bob", 0, 0)).await.unwrap().batches;
    assert_eq!(bob.len(), 1);
    let mut theirs = list("alice", 0, 0);
    theirs.partner = other.clone();
    let theirs = core.list_batches(&theirs).await.unwrap().batches;
    assert_eq!(theirs.len(), 1, "partners never mix");
    assert_eq!(theirs[0].batch_id, "O1");
    // The page size: 50 by default, never more than 200.
    for i in 0..201 {
        send_as(&core, &p, "carol", prod, &format!("C{i}"), vec![]).await;
    }
    let n = |limit| {
        let core = core.clone();
        let req = list("carol", limit, 0);
        async move { core.list_batches(&req).await.unwrap().batches.len() }
    };
    assert_eq!((n(0).await, n(10).await, n(1000).await), (50, 10, 200));
    let mut nobody = list("alice", 0, 0);
    nobody.partner = "no-such-partner".into();
    assert!(matches!(
        core.list_batches(&nobody).await,
        Err(wharf_core::CoreError::NotFound(_))
    ));
    assert!(matches!(
        core.list_batches(&list("", 0, 0)).await,
        Err(wharf_core::CoreError::Invalid(_))
    ));
}

async fn sessions_start_and_end(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let s = core.start_session(&here(), &u, "password-1").await.unwrap();
    assert_eq!((s.token_type.as_str(), s.expires_in), ("Bearer", 8 * 3600));
    assert_eq!(s.access_token.len(), 64);
    let who = core
        .verify_token(&here(), &s.access_token, TokenKind::Session)
        .await
        .unwrap();
    assert_eq!(
        (who.partner.as_str(), who.user.as_deref()),
        (p.as_str(), Some(u.as_str()))
    );
    // A session opens the upload page only: as an API bearer token it is refused like an
    // unknown one, and an API token is no session.
    assert!(matches!(
        core.verify_token(&here(), &s.access_token, TokenKind::Api)
            .await,
        Err(wharf_core::CoreError::Unauthenticated)
    ));
    let api = core
        .issue_token(
            &here(),
            &pb::IssueTokenRequest {
                caller: None,
                grant_type: "password".into(),
                client_id: p.clone(),
                client_secret: "client-secret-1".into(),
                username: u.clone(),
                password: "password-1".into(),
            },
        )
        .await
        .unwrap();
    assert!(core
        .verify_token(&here(), &api.access_token, TokenKind::Api)
        .await
        .is_ok());
    assert!(matches!(
        core.verify_token(&here(), &api.access_token, TokenKind::Session)
            .await,
        Err(wharf_core::CoreError::Unauthenticated)
    ));
    let other = core.start_session(&here(), &u, "password-1").await.unwrap();
    assert_ne!(other.access_token, s.access_token);
    assert!(core.end_session(&s.access_token).await.unwrap());
    assert!(matches!(
        core.verify_token(&here(), &s.access_token, TokenKind::Session)
            .await,
        Err(wharf_core::CoreError::Unauthenticated)
    ));
    assert!(
        !core.end_session(&s.access_token).await.unwrap(),
        "ended once"
    );
    assert!(
        core.verify_token(&here(), &other.access_token, TokenKind::Session)
            .await
            .is_ok(),
        "only that session ends"
    );
    assert!(matches!(
        core.start_session(&here(), &u, "password-2").await,
        Err(wharf_core::CoreError::Unauthenticated)
    ));
    assert!(core
        .start_session(&here(), "ghost", "password-1")
        .await
        .is_err());
}

/// Ids and names no store could hold (control characters, over-long): a lookup finds nothing
/// and a file door's name is refused E00V00, never a store error, on every store alike.
async fn ids_no_store_can_hold_are_not_found(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let long_id = "B".repeat(10_000);
    for id in ["B\0", "B\r", "\u{7f}", long_id.as_str()] {
        let b = core
            .get_batch(&batch_ref(&p, pb::Environment::Prod, id))
            .await
            .unwrap_or_else(|e| panic!("get_batch {id:?}: {e:?}"));
        assert!(!b.found, "{id:?}");
        for r in [
            core.abandon_batch(&batch_ref(&p, pb::Environment::Prod, id))
                .await,
            core.act_on_batch(&pb::BatchActionRequest {
                partner: p.clone(),
                environment: pb::Environment::Prod as i32,
                data_category: "t1".into(),
                biz_key: "bom".into(),
                batch_id: id.into(),
                action: "cancel".into(),
                actor: "someone".into(),
            })
            .await,
        ] {
            assert!(
                matches!(r, Err(wharf_core::CoreError::NotFound(_))),
                "{id:?}: {r:?}"
            );
        }
        assert!(core
            .interfaces_with_batch(&p, Environment::Prod, id)
            .await
            .unwrap()
            .is_empty());
        let listed = core
            .list_batches(&pb::ListBatchesRequest {
                partner: p.clone(),
                user: id.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(listed.batches.is_empty(), "{id:?}");
        // A user or partner name that cannot be one is a failed login, not a store error.
        let r = core.authenticate(&here(), id, "password-1").await;
        assert!(
            matches!(r, Err(wharf_core::CoreError::Unauthenticated)),
            "{id:?}: {r:?}"
        );
        let r = core
            .issue_token(
                &here(),
                &pb::IssueTokenRequest {
                    caller: None,
                    grant_type: "client_credentials".into(),
                    client_id: id.into(),
                    client_secret: "client-secret-1".into(),
                    ..Default::default()
                },
            )
            .await;
        assert!(
            matches!(r, Err(wharf_core::CoreError::Unauthenticated)),
            "{id:?}: {r:?}"
        );
    }
    // File names: NUL, CR, 10,000 characters. E00V00 on "file name", not kept (the door says
    // it in its own reply), nothing read; asking for its feedback finds none.
    let long_name = format!("bom_insert_20221001003000_{}", "1".repeat(10_000));
    for name in [
        "bom_insert_20221001003000_1\0.json",
        "bom_insert_20221001003000_1\r",
        long_name.as_str(),
    ] {
        let mut req = Seq {
            partner: &p,
            env: pb::Environment::Prod,
            op: Op::Insert,
            batch_id: "F1",
            batch_size: 1,
            seq_id: "1",
        }
        .request(bom_rows(0, 1, "ftp"));
        req.transport = pb::Transport::Ftp as i32;
        req.source = name.to_string();
        req.bad_source = "the door's own reason".into();
        let r = core
            .ingest(&req)
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e:?}"));
        assert_eq!(
            codes(&r),
            (
                "E00V00",
                vec![(None, "value not allowed".into(), "file name".into())]
            ),
            "{name:?}"
        );
        assert!(r.not_kept, "{name:?}");
        let fref = pb::FileRef {
            partner: p.clone(),
            environment: pb::Environment::Prod as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
            name: name.into(),
        };
        assert!(!core.get_file(&fref).await.unwrap().found);
        assert!(!core.delete_file(&fref).await.unwrap());
    }
    assert_eq!(count(&core, &p).await, 0, "nothing was read");
    // A value PostgreSQL cannot store is refused like any invalid value, on both stores.
    let mut rows = bom_rows(0, 2, "nul");
    rows[1] = bom_with_uid("k1", "nul", "u\0");
    let r = send(&core, &p, Op::Insert, "NUL", 2, "1", rows).await;
    assert_eq!(
        codes(&r),
        (
            "E00V00",
            vec![(Some(1), "value not allowed".into(), "uid".into())]
        ),
        "{r:?}"
    );
}

const BOM_KEY: &str = "vendor_code,vendor_father_item,father_item,vendor_child_item,version";

/// A key taken by another batch between staging and apply: E00W00 listing the rows that lost
/// their key or uid, as a duplicate in a sequence is listed, and a message (and stored
/// failure) in the partner's words, never the store's constraint names.
async fn key_clash_at_apply_lists_the_rows(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let slow = vec![
        bom("0", "slow"),
        bom_with_uid("x", "slow", "U1"),
        bom("1", "slow"),
    ];
    let r = send(&core, &p, Op::Insert, "SLOW", 4, "1", slow).await;
    assert_eq!(r.code, "0", "{r:?}");
    let fast = vec![bom("0", "fast"), bom_with_uid("y", "fast", "U1")];
    let r = send(&core, &p, Op::Insert, "FAST", 2, "1", fast).await;
    assert_eq!(r.code, "0", "{r:?}");
    let r = send(
        &core,
        &p,
        Op::Insert,
        "SLOW",
        4,
        "2",
        vec![bom("9", "slow")],
    )
    .await;
    assert_eq!(
        codes(&r),
        (
            "E00W00",
            vec![
                (Some(0), "duplicate key".into(), BOM_KEY.into()),
                (Some(1), "duplicate key".into(), "uid".into()),
            ]
        ),
        "{r:?}"
    );
    // The rows as staged, values as sent.
    let listed = r.problems[1].row.as_ref().expect("the row");
    assert!(
        listed
            .fields
            .iter()
            .any(|f| f.name == "uid" && f.value == text("U1")),
        "{listed:?}"
    );
    for internal in [
        "UNIQUE",
        "constraint failed",
        "records",
        "pkey",
        "duplicate key value",
    ] {
        assert!(!r.msg.contains(internal), "{internal}: {}", r.msg);
    }
    assert!(
        r.msg.contains("sequence 1 row 0, sequence 1 row 1"),
        "{}",
        r.msg
    );
    let b = core
        .get_batch(&batch_ref(&p, pb::Environment::Prod, "SLOW"))
        .await
        .unwrap();
    assert_eq!(b.failure_code, "E00W00");
    for internal in ["UNIQUE", "constraint", "records", "pkey"] {
        assert!(!b.failure_msg.contains(internal), "{}", b.failure_msg);
    }
    assert!(
        b.failure_msg.contains("2 row(s) clash"),
        "{}",
        b.failure_msg
    );
    assert_eq!(owners(&core, &p, Environment::Prod).await, ["fast", "fast"]);
}

/// A delete says how many records it removed: keys that were not there remove nothing.
async fn delete_says_how_many_it_removed(store: Arc<dyn Store>) {
    let core = core_with(store, policy());
    let p = partner(&core).await;
    let r = send(&core, &p, Op::Insert, "I", 2, "1", bom_rows(0, 2, "ins")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(r.msg.ends_with("applied (2 rows)"), "{}", r.msg);
    let r = send(&core, &p, Op::Delete, "D0", 1, "1", bom_rows(7, 1, "x")).await;
    assert_eq!(r.code, "0", "{r:?}");
    assert!(r.msg.ends_with("applied (1 rows: 0 deleted)"), "{}", r.msg);
    let r = send(&core, &p, Op::Delete, "D1", 2, "1", bom_rows(1, 2, "x")).await;
    assert!(r.msg.ends_with("applied (2 rows: 1 deleted)"), "{}", r.msg);
    assert_eq!(count(&core, &p).await, 1);
}

/// A consumed sequence sent again answers E00A00 either way (the seeds' contract), but one
/// with other content than it had is told so, and counted.
async fn resend_with_other_content_is_told_apart(store: Arc<dyn Store>) {
    let core = core_with(store.clone(), policy());
    let p = partner(&core).await;
    let r = send(&core, &p, Op::Insert, "R", 4, "1", bom_rows(0, 2, "a")).await;
    assert_eq!(r.code, "0", "{r:?}");
    let same = send(&core, &p, Op::Insert, "R", 4, "1", bom_rows(0, 2, "a")).await;
    assert_eq!(same.code, "E00A00", "{same:?}");
    assert!(!same.content_differs, "{same:?}");
    assert!(!same.msg.contains("different"), "{}", same.msg);
    let other = send(&core, &p, Op::Insert, "R", 4, "1", bom_rows(0, 2, "b")).await;
    assert_eq!(other.code, "E00A00", "{other:?}");
    assert!(other.content_differs, "{other:?}");
    assert!(
        other.msg.ends_with(
            "batch R sequence 1 already consumed with different content: \
             nothing of this one was applied"
        ),
        "{}",
        other.msg
    );
    assert_eq!((other.staged_rows, other.batch_size), (2, 4));
    // Fewer rows, or another operation, is other content too.
    let fewer = send(&core, &p, Op::Insert, "R", 4, "1", bom_rows(0, 1, "a")).await;
    assert!(fewer.content_differs, "{fewer:?}");
    let scrape = wharf_core::metrics::render(core.metrics(), store.as_ref()).await;
    assert!(
        scrape.contains("wharf_resend_conflicts_total{door=\"api\"} 2"),
        "{scrape}"
    );
    assert_eq!(count(&core, &p).await, 0, "nothing applied");
}

async fn column_mappings_and_held_uploads(store: Arc<dyn Store>) {
    use wharf_core::store::sheets::HeldUpload;
    let sheets = store.sheets();
    let p = wharf_testkit::unique("P");
    let q = wharf_testkit::unique("Q");
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(h, f)| (h.to_string(), f.to_string()))
            .collect()
    };
    sheets
        .remember_columns(
            &p,
            "t1/bom",
            &pairs(&[("code", "vendor_code"), ("remarks", "")]),
            10,
        )
        .await
        .unwrap();
    // A header mapped again takes its new field; the others stay.
    sheets
        .remember_columns(&p, "t1/bom", &pairs(&[("code", "child_item")]), 20)
        .await
        .unwrap();
    sheets
        .remember_columns(&q, "t1/bom", &pairs(&[("code", "father_item")]), 20)
        .await
        .unwrap();
    let mine = sheets.column_mapping(&p, "t1/bom").await.unwrap();
    assert_eq!(
        mine.into_iter().collect::<Vec<_>>(),
        pairs(&[("code", "child_item"), ("remarks", "")])
    );
    assert!(sheets
        .column_mapping(&p, "odm/master_data")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        sheets.column_mapping(&q, "t1/bom").await.unwrap()["code"],
        "father_item"
    );

    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let held = HeldUpload {
        partner: p.clone(),
        id: "a".repeat(64),
        username: "u1".into(),
        file_name: "供应商.xlsx".into(),
        content: big,
        created_unix: 100,
        batch_id: "b1".into(),
        corrects: "b0".into(),
    };
    sheets.hold_upload(&held).await.unwrap();
    assert_eq!(
        sheets.held_upload(&p, &held.id).await.unwrap(),
        Some(held.clone())
    );
    assert_eq!(
        sheets.held_upload(&q, &held.id).await.unwrap(),
        None,
        "another partner's"
    );
    // By its batch: the newest file sent as it.
    let newer = HeldUpload {
        id: "b".repeat(64),
        content: b"x".to_vec(),
        created_unix: 200,
        ..held.clone()
    };
    sheets.hold_upload(&newer).await.unwrap();
    assert_eq!(
        sheets.held_upload_of(&p, "b1", true).await.unwrap(),
        Some(newer.clone())
    );
    assert_eq!(sheets.held_upload_of(&q, "b1", true).await.unwrap(), None);
    assert_eq!(sheets.held_upload_of(&p, "b2", true).await.unwrap(), None);
    assert_eq!(
        sheets.prune_uploads(100).await.unwrap(),
        0,
        "not older than 100"
    );
    assert!(sheets.prune_uploads(101).await.unwrap() >= 1);
    assert_eq!(sheets.held_upload(&p, &held.id).await.unwrap(), None);
    assert_eq!(
        sheets.held_upload_of(&p, "b1", true).await.unwrap(),
        Some(newer.clone())
    );
    let bare = sheets
        .held_upload_of(&p, "b1", false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((bare.content.len(), bare.corrects.as_str()), (0, "b0"));
}

both_stores!(
    postgres: pg_store;
    column_mappings_and_held_uploads,
    staged_then_applied_atomically,
    resent_sequence_is_consumed_and_changes_nothing,
    retry_limit_fails_the_batch,
    rows_beyond_batch_size_are_refused,
    the_four_operations,
    uid_matches_before_business_key,
    partners_and_environments_are_isolated,
    mixed_failures_answer_e00m00,
    key_taken_while_open_fails_at_apply,
    abandoned_batches_expire,
    readers_never_see_half_a_batch,
    concurrent_sequences_of_one_batch,
    credentials_round_trip,
    file_deliveries_are_answered_once_and_kept,
    file_parts_are_kept_until_renamed_or_old,
    rejection_answers_are_kept_until_accepted,
    abandon_fails_an_open_batch,
    list_batches_of_one_user,
    sessions_start_and_end,
    ids_no_store_can_hold_are_not_found,
    key_clash_at_apply_lists_the_rows,
    delete_says_how_many_it_removed,
    resend_with_other_content_is_told_apart,
);
