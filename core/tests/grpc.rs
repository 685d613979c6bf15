//! gRPC round trips through a real tonic server on a loopback port.

mod common;

use common::*;
use tokio::net::TcpListener;
use tonic::Code;
use wharf_core::batch::BatchPolicy;
use wharf_core::grpc::{serve, InternalToken};
use wharf_proto::v1::{self as pb, Operation as Op};

const TOKEN: &str = "internal-token-for-tests";

/// Core on a free loopback port; returns its URL, a partner and a user of it.
async fn start() -> (String, String, String) {
    let core = core_with(sqlite_store(), BatchPolicy::default());
    let p = partner(&core).await;
    let u = unique("u");
    core.add_user(&u, &p, "password-1").await.unwrap();
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
            token: t.access_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(who.user, u);
    let err = c
        .issue_token(pb::IssueTokenRequest {
            grant_type: "implicit".into(),
            client_id: p.clone(),
            client_secret: "client-secret-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let list = c
        .list_interfaces(pb::ListInterfacesRequest { partner: p })
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
    assert!(r.problems[0].row.is_some(), "the row as sent comes back");
    let r = c
        .ingest_batch(seq("2").request(bom_rows(1, 1, "g")))
        .await
        .unwrap()
        .into_inner();
    assert!(r.code == "0" && r.applied, "{r:?}");
    let b = c
        .get_batch(pb::GetBatchRequest {
            partner: p.clone(),
            environment: pb::Environment::Prod as i32,
            data_category: "t1".into(),
            biz_key: "bom".into(),
            batch_id: "G1".into(),
        })
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
