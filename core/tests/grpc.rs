//! gRPC round trips through a real tonic server on a loopback port.

mod common;

use common::*;
use tokio::net::TcpListener;
use tonic::Code;
use wharf_core::grpc::{serve, InternalToken};
use wharf_core::Settings;
use wharf_proto::v1::{self as pb, Operation as Op};

const TOKEN: &str = "internal-token-for-tests";

/// Core on a free loopback port; returns its URL, a partner and a user of it.
async fn start() -> (String, String, String) {
    start_with(Settings::default()).await
}

async fn start_with(settings: Settings) -> (String, String, String) {
    let core = core_on(sqlite_store(), settings);
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        core,
        InternalToken::new(TOKEN),
        std::future::pending(),
    ));
    (url, p, u)
}

#[tokio::test]
async fn calls_without_the_internal_token_are_refused() {
    let (url, _, u) = start().await;
    for token in ["", "wrong-token-wrong-token"] {
        let mut c = wharf_proto::connect(&url, token).unwrap();
        let err = c
            .authenticate(pb::AuthenticateRequest {
                caller: here(),
                username: u.clone(),
                password: "password-1".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "token {token:?}");
    }
}

#[tokio::test]
async fn credentials_over_grpc() {
    let (url, p, u) = start().await;
    let mut c = wharf_proto::connect(&url, TOKEN).unwrap();
    let who = c
        .authenticate(pb::AuthenticateRequest {
            caller: here(),
            username: u.clone(),
            password: "password-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (who.partner.as_str(), who.user.as_str()),
        (p.as_str(), u.as_str())
    );
    assert!(who.interfaces.contains(&"t1/bom".to_string()));
    let err = c
        .authenticate(pb::AuthenticateRequest {
            caller: here(),
            username: u.clone(),
            password: "nope-nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        err.message(),
        "bad credentials",
        "says nothing about which part"
    );
    let t = c
        .issue_token(pb::IssueTokenRequest {
            caller: here(),
            grant_type: "password".into(),
            client_id: p.clone(),
            client_secret: "client-secret-1".into(),
            username: u.clone(),
            password: "password-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let who = c
        .verify_token(pb::VerifyTokenRequest {
            caller: here(),
            token: t.access_token,
            kind: pb::TokenKind::Api as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(who.user, u);
    let err = c
        .issue_token(pb::IssueTokenRequest {
            caller: here(),
            grant_type: "implicit".into(),
            client_id: p.clone(),
            client_secret: "client-secret-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let list = c
        .list_interfaces(pb::ListInterfacesRequest {
            partner: p,
            all: false,
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = list
        .interfaces
        .iter()
        .map(|i| format!("{}/{}", i.data_category, i.biz_key))
        .collect();
    assert_eq!(ids, ["odm/master_data", "t1/bom"]);
}

#[tokio::test]
async fn ingest_and_batch_state_over_grpc() {
    let (url, p, _) = start().await;
    let mut c = wharf_proto::connect(&url, TOKEN).unwrap();
    let seq = |seq_id: &'static str| Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "G1",
        batch_size: 2,
        seq_id,
    };
    let mut req = tonic::Request::new(seq("1").request(bom_rows(0, 1, "g")));
    req.metadata_mut().insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let r = c.ingest_batch(req).await.unwrap().into_inner();
    assert_eq!((r.code.as_str(), r.staged_rows, r.batch_size), ("0", 1, 2));
    let mut bad = bom("1", "g");
    bad.fields.push(pb::Field {
        name: "colour".into(),
        value: text("red"),
    });
    let r = c
        .ingest_batch(seq("2").request(vec![bad]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.code, "E00V00");
    assert_eq!(r.problems[0].index, Some(0));
    assert_eq!(r.problems[0].verify[0].r#type, "unknown field");
    assert_eq!(r.problems[0].verify[0].fields, "colour");
    assert_eq!(r.problems[0].verify[0].detail, None, "the type says it all");
    assert!(r.problems[0].row.is_some(), "the row as sent comes back");
    // The detail travels typed: a date's format and example.
    let mut bad = bom("1", "g");
    for f in &mut bad.fields {
        if f.name == "effective_end_date" {
            f.value = text("2022/10/01");
        }
    }
    let r = c
        .ingest_batch(seq("2").request(vec![bad]))
        .await
        .unwrap()
        .into_inner();
    let v = &r.problems[0].verify[0];
    assert_eq!(
        (v.r#type.as_str(), v.fields.as_str()),
        ("invalid date", "effective_end_date")
    );
    let d = &v.detail.as_ref().expect("a detail").by_field[0];
    assert_eq!(
        (d.field.as_str(), d.format.as_str(), d.example.as_str()),
        ("effective_end_date", "yyyy-mm-dd", "2024-02-29")
    );
    let r = c
        .ingest_batch(seq("2").request(bom_rows(1, 1, "g")))
        .await
        .unwrap()
        .into_inner();
    assert!(r.code == "0" && r.applied, "{r:?}");
    let b = c
        .get_batch(batch_ref(&p, pb::Environment::Prod, "G1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (b.found, b.state.as_str(), b.staged_rows),
        (true, "applied", 2)
    );
    let mut unknown = seq("3").request(bom_rows(0, 1, "g"));
    unknown.biz_key = "nope".into();
    let err = c.ingest_batch(unknown).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let mut no_op = seq("3").request(bom_rows(0, 1, "g"));
    no_op.operation = 0;
    let err = c.ingest_batch(no_op).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn sessions_over_grpc() {
    let (url, p, u) = start().await;
    let mut c = wharf_proto::connect(&url, TOKEN).unwrap();
    let login = |password: &str| pb::AuthenticateRequest {
        caller: here(),
        username: u.clone(),
        password: password.into(),
    };
    let s = c
        .start_session(login("password-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((s.token_type.as_str(), s.expires_in), ("Bearer", 28800));
    let token = || pb::VerifyTokenRequest {
        caller: here(),
        token: s.access_token.clone(),
        kind: pb::TokenKind::Session as i32,
    };
    // Not an API bearer token (the default kind asked for).
    let err = c
        .verify_token(pb::VerifyTokenRequest {
            caller: here(),
            token: s.access_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let who = c.verify_token(token()).await.unwrap().into_inner();
    assert_eq!(
        (who.partner.as_str(), who.user.as_str()),
        (p.as_str(), u.as_str())
    );
    assert!(c.end_session(token()).await.unwrap().into_inner().ended);
    let err = c.verify_token(token()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!c.end_session(token()).await.unwrap().into_inner().ended);
    let err = c.start_session(login("wrong-one")).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn too_many_failed_logins_are_resource_exhausted() {
    let (url, _, u) = start_with(Settings {
        defender: wharf_core::model::DefenderPolicy {
            threshold: 3,
            observation_secs: 600,
            ban_secs: 600,
            ban_increment_percent: 50,
        },
        ..Settings::default()
    })
    .await;
    let mut c = wharf_proto::connect(&url, TOKEN).unwrap();
    let login = |user: &str, password: &str| pb::AuthenticateRequest {
        caller: here(),
        username: user.into(),
        password: password.into(),
    };
    for _ in 0..3 {
        let err = c.authenticate(login(&u, "wrong-one")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    // Locked out: even the right password is not tried, on every login path.
    let err = c.authenticate(login(&u, "password-1")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message()
            .starts_with("login temporarily refused after too many failed logins; try again in "),
        "{}",
        err.message()
    );
    let err = c.start_session(login(&u, "password-1")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    // The address is banned too: another name from it is refused unchecked.
    let err = c.authenticate(login("bob", "x")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert!(wharf_proto::login::retry_after(&err).is_some_and(|s| s > 0 && s <= 600));
    // Unknown names score double: two from another address ban the name (and that address).
    let from = |user: &str| pb::AuthenticateRequest {
        caller: Some(wharf_proto::login::caller(
            "grpc-test",
            std::net::Ipv4Addr::new(127, 0, 0, 3).into(),
        )),
        ..login(user, "x")
    };
    for _ in 0..2 {
        let err = c.authenticate(from("ghost")).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated);
    }
    let err = c.authenticate(from("ghost")).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    // A door that does not say who asks is refused.
    let err = c
        .authenticate(pb::AuthenticateRequest {
            caller: None,
            ..login(&u, "password-1")
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn batches_over_grpc() {
    let (url, p, u) = start().await;
    let mut c = wharf_proto::connect(&url, TOKEN).unwrap();
    let send = |batch_id: &'static str, seq_id: &'static str, rows: Vec<pb::Row>| {
        let mut req = Seq {
            partner: &p,
            env: pb::Environment::Prod,
            op: Op::Insert,
            batch_id,
            batch_size: 4,
            seq_id,
        }
        .request(rows);
        req.user = u.clone();
        req.source = format!("{batch_id}.csv");
        req
    };
    let mut bad = bom("1", "g");
    bad.line = 12;
    bad.fields.push(pb::Field {
        name: "colour".into(),
        value: text("red"),
    });
    for (seq_id, rows) in [("1", bom_rows(0, 1, "g")), ("2", vec![bad])] {
        // A sender that reads only the code (a sheet door) gets the rejection without its
        // rows; core keeps them all the same (below).
        let mut req = send("G", seq_id, rows);
        req.code_only = true;
        let answer = c.ingest_batch(req).await.unwrap().into_inner();
        if seq_id == "2" {
            assert_eq!(answer.code, "E00V00");
            assert!(answer.problems.is_empty() && answer.groups.is_empty());
        }
    }
    let batch = |batch_id: &str| batch_ref(&p, pb::Environment::Prod, batch_id);
    let b = c
        .get_batch(with_rejections(batch("G")))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((b.source.as_str(), b.biz_key.as_str()), ("G.csv", "bom"));
    assert_eq!(b.rejections.len(), 1);
    let answer = b.rejections[0].answer.as_ref().unwrap();
    assert_eq!(answer.code, "E00V00");
    assert_eq!(answer.problems[0].row.as_ref().unwrap().line, 12);
    let b = c.abandon_batch(batch("G")).await.unwrap().into_inner();
    assert_eq!(
        (
            b.state.as_str(),
            b.failure_code.as_str(),
            b.rejections.len()
        ),
        ("failed", "E00V00", 1)
    );
    // A sender that does not read the answer asks for it without the rejections.
    let mut bare = batch("G");
    bare.without_rejections = true;
    let b = c.abandon_batch(bare).await.unwrap().into_inner();
    assert_eq!(
        (b.state.as_str(), b.rejections.len()),
        ("failed", 0),
        "answered without its rejections"
    );
    let err = c.abandon_batch(batch("NOPE")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    c.ingest_batch(send("H", "1", bom_rows(5, 1, "h")))
        .await
        .unwrap();
    let list = c
        .list_batches(pb::ListBatchesRequest {
            partner: p.clone(),
            user: u.clone(),
            limit: 0,
            before: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let listed: Vec<(&str, &str)> = list
        .batches
        .iter()
        .map(|b| (b.batch_id.as_str(), b.state.as_str()))
        .collect();
    assert_eq!(listed, [("H", "open"), ("G", "failed")]);
    let err = c
        .list_batches(pb::ListBatchesRequest {
            partner: p,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

/// ActOnBatch: a scheduled batch sent over gRPC is held, executed and reverted by hand; the
/// refusals come back as FAILED_PRECONDITION, an unknown batch as NOT_FOUND.
#[tokio::test]
async fn act_on_batch_over_grpc() {
    let (url, p, _) = start().await;
    let mut c = wharf_proto::connect(&url, TOKEN).unwrap();
    let now = wharf_core::clock::now_unix();
    let mut req = Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "SCH",
        batch_size: 1,
        seq_id: "1",
    }
    .request(bom_rows(0, 1, "s"));
    req.instant_execute = Some(pb::Value {
        kind: Some(pb::value::Kind::Boolean(false)),
    });
    req.execute_ts = text(&wharf_proto::time::rfc3339(now + 3 * 3600));
    let r = c.ingest_batch(req).await.unwrap().into_inner();
    assert_eq!(r.code, "0", "{r:?}");
    assert!(
        !r.applied && r.msg.contains("scheduled to execute"),
        "{r:?}"
    );
    let action = |action: &str, batch_id: &str| action_ref(&p, batch_id, action, "ops-user");
    let err = c.act_on_batch(action("revert", "SCH")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let b = c
        .act_on_batch(action("execute", "SCH"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            b.state.as_str(),
            b.execute_status.as_str(),
            b.executor.as_str()
        ),
        ("applied", "finished", "ops-user")
    );
    assert_eq!((b.batch_source.as_str(), b.instant_execute), ("api", false));
    let err = c.act_on_batch(action("cancel", "SCH")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("already executed"),
        "{}",
        err.message()
    );
    let b = c
        .act_on_batch(action("revert", "SCH"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            b.state.as_str(),
            b.revert_status.as_str(),
            b.reverter.as_str()
        ),
        ("reverted", "finished", "ops-user")
    );
    let err = c.act_on_batch(action("revert", "SCH")).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "a revert runs once");
    let err = c.act_on_batch(action("revert", "NOPE")).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c.act_on_batch(action("undo", "SCH")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let got = c
        .get_batch(batch_ref(&p, pb::Environment::Prod, "SCH"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.state, "reverted");
    assert_eq!(got.modifier, "ops-user");
}

/// A caller on loopback (these tests' door).
fn here() -> Option<pb::Caller> {
    Some(wharf_proto::login::caller(
        "grpc-test",
        std::net::Ipv4Addr::LOCALHOST.into(),
    ))
}
