//! Partners', users' and tokens' lifecycle (`wharf_core::accounts`) on both stores: a
//! disabled account is refused by every credential, a rotated secret's grace, a reset
//! password ends the user's tokens, tokens are listed without the token and revoked,
//! removal is refused while a partner holds data and takes its data with `with_data`.

mod common;

use std::sync::Arc;

use common::*;
use wharf_core::accounts::TokenSelector;
use wharf_core::audit::Origin;
use wharf_core::clock::ManualClock;
use wharf_core::model::TokenKind;
use wharf_core::store::Store;
use wharf_core::{Core, CoreError};
use wharf_proto::v1::{self as pb, Operation as Op};

fn op() -> Origin {
    Origin::cli("test")
}

fn core_at(store: Arc<dyn Store>, clock: &ManualClock) -> Core {
    core_on(store, wharf_core::Settings::default()).with_clock(clock.clock())
}

fn client_grant(partner: &str, secret: &str) -> pb::IssueTokenRequest {
    pb::IssueTokenRequest {
        grant_type: "client_credentials".into(),
        client_id: partner.into(),
        client_secret: secret.into(),
        ..Default::default()
    }
}

fn refused<T: std::fmt::Debug>(r: Result<T, CoreError>) -> bool {
    matches!(r, Err(CoreError::Unauthenticated))
}

async fn a_disabled_partner_or_user_is_refused_by_every_credential(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let api = core
        .issue_token(&here(), &client_grant(&p, "client-secret-1"))
        .await
        .unwrap()
        .access_token;
    let session = core
        .start_session(&here(), &u, "password-1")
        .await
        .unwrap()
        .access_token;
    let sent = send(&core, &p, Op::Insert, "D1", 1, "1", bom_rows(0, 1, "a")).await;
    assert_eq!(sent.code, "0");

    core.set_partner_disabled(&op(), &p, true).await.unwrap();
    assert!(core.partner_info(&p).await.unwrap().disabled);
    assert!(refused(core.authenticate(&here(), &u, "password-1").await));
    assert!(refused(
        core.verify_token(&here(), &api, TokenKind::Api).await
    ));
    assert!(refused(
        core.verify_token(&here(), &session, TokenKind::Session)
            .await
    ));
    assert!(refused(
        core.issue_token(&here(), &client_grant(&p, "client-secret-1"))
            .await
    ));
    let seq = Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "D2",
        batch_size: 1,
        seq_id: "1",
    };
    assert!(refused(
        core.ingest(&seq.request(bom_rows(1, 1, "a"))).await
    ));
    // Its data stays, readable by the operator.
    assert_eq!(count(&core, &p).await, 1);

    core.set_partner_disabled(&op(), &p, false).await.unwrap();
    core.authenticate(&here(), &u, "password-1").await.unwrap();
    core.verify_token(&here(), &api, TokenKind::Api)
        .await
        .unwrap();
    core.verify_token(&here(), &session, TokenKind::Session)
        .await
        .unwrap();

    core.set_user_disabled(&op(), &u, true).await.unwrap();
    assert!(core.user_info(&u).await.unwrap().disabled);
    assert!(refused(core.authenticate(&here(), &u, "password-1").await));
    assert!(refused(
        core.verify_token(&here(), &session, TokenKind::Session)
            .await
    ));
    let mut by_user = seq.request(bom_rows(1, 1, "a"));
    by_user.user = u.clone();
    assert!(refused(core.ingest(&by_user).await));
    // The partner's own token is not the user's.
    core.verify_token(&here(), &api, TokenKind::Api)
        .await
        .unwrap();
    core.set_user_disabled(&op(), &u, false).await.unwrap();
    core.verify_token(&here(), &session, TokenKind::Session)
        .await
        .unwrap();
}

async fn a_rotated_secret_works_through_its_grace_only(store: Arc<dyn Store>) {
    let clock = ManualClock::at(2_000_000_000);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    // A grace past 30 days is refused: nothing changes.
    let long = core
        .rotate_partner_secret(&op(), &p, "client-secret-2", 30 * 86_400 + 1)
        .await
        .unwrap_err();
    assert!(long.to_string().contains("30 days"), "{long}");
    assert_eq!(
        core.partner_info(&p).await.unwrap().secret_rotated_unix,
        None
    );
    core.rotate_partner_secret(&op(), &p, "client-secret-2", 60)
        .await
        .unwrap();
    let info = core.partner_info(&p).await.unwrap();
    assert_eq!(info.secret_rotated_unix, Some(2_000_000_000));
    assert_eq!(info.previous_secret_valid_until, Some(2_000_000_060));
    for secret in ["client-secret-1", "client-secret-2"] {
        core.issue_token(&here(), &client_grant(&p, secret))
            .await
            .unwrap();
    }
    clock.advance(60);
    assert!(refused(
        core.issue_token(&here(), &client_grant(&p, "client-secret-1"))
            .await
    ));
    core.issue_token(&here(), &client_grant(&p, "client-secret-2"))
        .await
        .unwrap();
    assert_eq!(
        core.partner_info(&p)
            .await
            .unwrap()
            .previous_secret_valid_until,
        None
    );
    // No grace: the old one stops at once. The same secret again is refused.
    core.rotate_partner_secret(&op(), &p, "client-secret-3", 0)
        .await
        .unwrap();
    assert!(refused(
        core.issue_token(&here(), &client_grant(&p, "client-secret-2"))
            .await
    ));
    assert!(matches!(
        core.rotate_partner_secret(&op(), &p, "client-secret-3", 0)
            .await,
        Err(CoreError::Invalid(_))
    ));
}

async fn a_reset_password_ends_the_users_tokens(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let other = user_of(&core, &p).await;
    let session = core
        .start_session(&here(), &u, "password-1")
        .await
        .unwrap()
        .access_token;
    let kept = core
        .start_session(&here(), &other, "password-1")
        .await
        .unwrap()
        .access_token;
    core.reset_password(&op(), &u, "password-2").await.unwrap();
    assert!(refused(core.authenticate(&here(), &u, "password-1").await));
    core.authenticate(&here(), &u, "password-2").await.unwrap();
    assert!(refused(
        core.verify_token(&here(), &session, TokenKind::Session)
            .await
    ));
    core.verify_token(&here(), &kept, TokenKind::Session)
        .await
        .unwrap();
    assert!(core
        .user_info(&u)
        .await
        .unwrap()
        .password_changed_unix
        .is_some());
    assert!(matches!(
        core.reset_password(&op(), &u, "short").await,
        Err(CoreError::Invalid(_))
    ));
}

async fn tokens_are_listed_by_id_and_revoked(store: Arc<dyn Store>) {
    let clock = ManualClock::at(2_000_000_000);
    let core = core_at(store, &clock);
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let api = core
        .issue_token(&here(), &client_grant(&p, "client-secret-1"))
        .await
        .unwrap()
        .access_token;
    let session = core
        .start_session(&here(), &u, "password-1")
        .await
        .unwrap()
        .access_token;
    let listed = core.tokens(Some(&p), None).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let shown = format!("{listed:?}");
    assert!(!shown.contains(&api) && !shown.contains(&session));
    let api_info = listed.iter().find(|t| t.kind == "api").unwrap();
    assert_eq!(api_info.id.len(), 12);
    assert!(
        !api.contains(&api_info.id),
        "the id is not a piece of the token"
    );
    assert_eq!(
        (api_info.issued_unix, api_info.last_used_unix),
        (2_000_000_000, None)
    );
    assert_eq!(api_info.user, None);
    let mine = core.tokens(None, Some(&u)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].kind, "session");

    // Last use: noted, then not rewritten within the minute.
    clock.advance(5);
    core.verify_token(&here(), &api, TokenKind::Api)
        .await
        .unwrap();
    clock.advance(30);
    core.verify_token(&here(), &api, TokenKind::Api)
        .await
        .unwrap();
    let used = |all: Vec<wharf_core::accounts::TokenInfo>| {
        all.into_iter()
            .find(|t| t.kind == "api")
            .unwrap()
            .last_used_unix
    };
    assert_eq!(
        used(core.tokens(Some(&p), None).await.unwrap()),
        Some(2_000_000_005)
    );
    clock.advance(30);
    core.verify_token(&here(), &api, TokenKind::Api)
        .await
        .unwrap();
    assert_eq!(
        used(core.tokens(Some(&p), None).await.unwrap()),
        Some(2_000_000_065)
    );

    let n = core
        .revoke_tokens(&op(), &TokenSelector::Id(api_info.id.clone()))
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(refused(
        core.verify_token(&here(), &api, TokenKind::Api).await
    ));
    core.verify_token(&here(), &session, TokenKind::Session)
        .await
        .unwrap();
    assert!(matches!(
        core.revoke_tokens(&op(), &TokenSelector::Id(api_info.id.clone()))
            .await,
        Err(CoreError::NotFound(_))
    ));
    assert_eq!(
        core.revoke_tokens(&op(), &TokenSelector::User(u.clone()))
            .await
            .unwrap(),
        1
    );
    assert!(refused(
        core.verify_token(&here(), &session, TokenKind::Session)
            .await
    ));
    assert!(core.tokens(Some(&p), None).await.unwrap().is_empty());
}

async fn removal_is_refused_with_data_unless_asked(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let bare = partner(&core).await;
    let bare_user = user_of(&core, &bare).await;
    core.remove_partner(&op(), &bare, false).await.unwrap();
    assert!(matches!(
        core.partner_info(&bare).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        core.user_info(&bare_user).await,
        Err(CoreError::NotFound(_))
    ));

    let sent = send(&core, &p, Op::Insert, "R1", 2, "1", bom_rows(0, 2, "a")).await;
    assert_eq!(sent.code, "0");
    let err = core.remove_partner(&op(), &p, false).await.unwrap_err();
    let CoreError::Precondition(msg) = err else {
        panic!("{err:?}")
    };
    assert!(
        msg.contains("1 batches") && msg.contains("2 records"),
        "{msg}"
    );
    assert_eq!(count(&core, &p).await, 2, "nothing was removed");
    core.remove_partner(&op(), &p, true).await.unwrap();
    assert!(matches!(
        core.user_info(&u).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(core
        .store()
        .accounts()
        .partner_data(&p)
        .await
        .unwrap()
        .is_empty());
    // The name is free again, with nothing of the old partner.
    core.add_partner(&op(), &p, "client-secret-1", None)
        .await
        .unwrap();
    assert_eq!(count(&core, &p).await, 0);
    let b = core
        .get_batch(&batch_ref(&p, pb::Environment::Prod, "R1"))
        .await
        .unwrap();
    assert!(!b.found);
}

async fn users_are_listed_and_removed_with_keys(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let a = user_of(&core, &p).await;
    let b = user_of(&core, &p).await;
    let key =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINGKHMhvulifLIuLafqDNIcuhKNb35HNvCmwIAyJ2Uvo a@test";
    core.add_user_key(&op(), &a, key).await.unwrap();
    let listed = core.users(Some(&p)).await.unwrap();
    let names: Vec<_> = listed.iter().map(|u| u.username.clone()).collect();
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(core.user_info(&a).await.unwrap().keys, 1);
    let info = core.partner_info(&p).await.unwrap();
    assert_eq!(info.users, expected);
    assert!(matches!(
        core.users(Some("no-such-partner")).await,
        Err(CoreError::NotFound(_))
    ));
    core.remove_user(&op(), &a).await.unwrap();
    assert!(refused(core.authenticate(&here(), &a, "password-1").await));
    assert_eq!(core.partner_info(&p).await.unwrap().users, vec![b.clone()]);
    // Its name may be given again; the old key is gone with it.
    core.add_user(&op(), &a, &p, "password-1").await.unwrap();
    assert_eq!(core.user_info(&a).await.unwrap().keys, 0);
}

async fn interfaces_change_at_once(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    core.set_partner_interfaces(&op(), &p, Some(vec!["odm/master_data".into()]))
        .await
        .unwrap();
    let seq = Seq {
        partner: &p,
        env: pb::Environment::Prod,
        op: Op::Insert,
        batch_id: "I1",
        batch_size: 1,
        seq_id: "1",
    };
    assert!(matches!(
        core.ingest(&seq.request(bom_rows(0, 1, "a"))).await,
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        core.set_partner_interfaces(&op(), &p, Some(vec!["no/such".into()]))
            .await,
        Err(CoreError::Invalid(_))
    ));
    core.set_partner_interfaces(&op(), &p, None).await.unwrap();
    assert_eq!(
        core.ingest(&seq.request(bom_rows(0, 1, "a")))
            .await
            .unwrap()
            .code,
        "0"
    );
    assert_eq!(core.partner_info(&p).await.unwrap().interfaces, None);
    let defs = core.interface_definitions();
    assert!(defs.iter().any(|d| d.id == "t1/bom"));
    let bom = core.interface_definition("t1/bom").unwrap();
    assert!(bom.fields.iter().any(|f| f.name == "quantity_per"));
    assert!(matches!(
        core.interface_definition("t1"),
        Err(CoreError::NotFound(_))
    ));
}

/// Every change is in the audit trail, as the operator who made it, in order, with before →
/// after, and no secret, token or hash anywhere in it.
async fn every_change_is_recorded_without_secrets(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    let token = core
        .start_session(&here(), &u, "password-1")
        .await
        .unwrap()
        .access_token;
    core.set_partner_disabled(&op(), &p, true).await.unwrap();
    core.set_partner_disabled(&op(), &p, true).await.unwrap();
    core.set_partner_disabled(&op(), &p, false).await.unwrap();
    core.set_partner_interfaces(&op(), &p, Some(vec!["t1/bom".into()]))
        .await
        .unwrap();
    core.rotate_partner_secret(&op(), &p, "client-secret-2", 30)
        .await
        .unwrap();
    core.set_user_disabled(&op(), &u, true).await.unwrap();
    core.set_user_disabled(&op(), &u, false).await.unwrap();
    core.reset_password(&op(), &u, "password-2").await.unwrap();
    core.start_session(&here(), &u, "password-2").await.unwrap();
    core.revoke_tokens(&op(), &TokenSelector::User(u.clone()))
        .await
        .unwrap();
    core.remove_user(&op(), &u).await.unwrap();
    core.remove_partner(&op(), &p, false).await.unwrap();
    let trail = core
        .audit_list(&wharf_core::audit::Filter {
            partner: Some(p.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = trail
        .iter()
        .filter(|r| r.kind == "admin")
        .map(|r| r.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "partner.add",
            "user.add",
            "partner.disable",
            "partner.enable",
            "partner.set-interfaces",
            "partner.rotate-secret",
            "user.disable",
            "user.enable",
            "user.reset-password",
            "token.revoke",
            "user.remove",
            "partner.remove",
        ]
    );
    for r in trail.iter().filter(|r| r.kind == "admin") {
        assert_eq!((r.actor.as_str(), r.door.as_str()), ("cli:test", "cli"));
    }
    let set = trail
        .iter()
        .find(|r| r.action == "partner.set-interfaces")
        .unwrap();
    assert_eq!(set.detail["before"]["interfaces"], serde_json::Value::Null);
    assert_eq!(
        set.detail["after"]["interfaces"],
        serde_json::json!(["t1/bom"])
    );
    let revoked = trail.iter().find(|r| r.action == "token.revoke").unwrap();
    assert_eq!(revoked.user, u);
    assert_eq!(revoked.detail["ids"].as_array().unwrap().len(), 1);
    let text = serde_json::to_string(&trail).unwrap();
    for secret in [
        "client-secret-1",
        "client-secret-2",
        "password-1",
        "password-2",
        token.as_str(),
        "argon2",
    ] {
        assert!(!text.contains(secret), "{secret} in the trail: {text}");
    }
}

/// With the trail's table gone, a change fails and does not happen; with it back, it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unrecordable_changes_do_not_happen() {
    let dir = std::env::temp_dir().join(unique("wharf-accounts"));
    let store: Arc<dyn Store> =
        Arc::new(wharf_core::store::sqlite::SqliteStore::open(&dir).unwrap());
    let file = wharf_core::store::sqlite::SqliteStore::file_in(&dir);
    let run = |sql: &str| {
        rusqlite::Connection::open(&file)
            .unwrap()
            .execute_batch(sql)
            .unwrap()
    };
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let u = user_of(&core, &p).await;
    run("ALTER TABLE audit RENAME TO audit_off");
    assert!(core.set_partner_disabled(&op(), &p, true).await.is_err());
    assert!(core
        .rotate_partner_secret(&op(), &p, "client-secret-2", 0)
        .await
        .is_err());
    assert!(core.reset_password(&op(), &u, "password-2").await.is_err());
    assert!(core.remove_partner(&op(), &p, true).await.is_err());
    assert!(core.remove_user(&op(), &u).await.is_err());
    assert!(core
        .add_partner(&op(), &unique("P"), "client-secret-1", None)
        .await
        .is_err());
    let info = core.partner_info(&p).await.unwrap();
    assert!(!info.disabled && info.secret_rotated_unix.is_none());
    assert_eq!(info.users, vec![u.clone()]);
    // A login the trail cannot record does not happen either.
    assert!(core.authenticate(&here(), &u, "password-1").await.is_err());
    run("ALTER TABLE audit_off RENAME TO audit");
    core.authenticate(&here(), &u, "password-1").await.unwrap();
    core.set_partner_disabled(&op(), &p, true).await.unwrap();
    assert!(core.partner_info(&p).await.unwrap().disabled);
}

/// An operator still acts on a disabled partner's batches (a revert of what landed), and on
/// a batch of an interface the partner was since denied.
async fn operators_act_on_a_disabled_partners_batches(store: Arc<dyn Store>) {
    let core = core_on(store, wharf_core::Settings::default());
    let p = partner(&core).await;
    let r = send(&core, &p, Op::Insert, "D1", 2, "1", bom_rows(0, 2, "d")).await;
    assert!(r.applied, "{r:?}");
    core.set_partner_disabled(&op(), &p, true).await.unwrap();
    core.set_partner_interfaces(&op(), &p, Some(vec!["odm/master_data".into()]))
        .await
        .unwrap();
    let act = pb::BatchActionRequest {
        partner: p.clone(),
        environment: pb::Environment::Prod as i32,
        data_category: "t1".into(),
        biz_key: "bom".into(),
        batch_id: "D1".into(),
        action: "revert".into(),
        actor: "cli:ops".into(),
    };
    let b = core.act_on_batch(&act).await.expect("an operator reverts");
    assert_eq!(b.state, "reverted", "{b:?}");
    core.set_partner_interfaces(&op(), &p, None).await.unwrap();
    assert_eq!(count(&core, &p).await, 0);
    let unknown = pb::BatchActionRequest {
        partner: "no-such-partner".into(),
        ..act
    };
    assert!(matches!(
        core.act_on_batch(&unknown).await,
        Err(CoreError::NotFound(_))
    ));
}

both_stores!(
    postgres: pg_store;
    operators_act_on_a_disabled_partners_batches,
    every_change_is_recorded_without_secrets,
    a_disabled_partner_or_user_is_refused_by_every_credential,
    a_rotated_secret_works_through_its_grace_only,
    a_reset_password_ends_the_users_tokens,
    tokens_are_listed_by_id_and_revoked,
    removal_is_refused_with_data_unless_asked,
    users_are_listed_and_removed_with_keys,
    interfaces_change_at_once,
);
