//! The UI shows what the registry's own rules let the viewer pull, signs people in with
//! the registry's authenticators, and offers delete only to those who may delete.

use crate::harness::*;
use base64::Engine;
use http::StatusCode;
use std::sync::Arc;
use wharf_registry::auth::password::PasswordEntry;
use wharf_registry::auth::rules::{Rule, RuleAuthorizer, Who};
use wharf_registry::auth::users::ConfigUsers;
use wharf_registry::auth::{AccessControl, Actions, Challenge};

fn rule(who: &str, globs: &[&str], actions: &str) -> Rule {
    let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
    Rule::new(vec![Who::parse(who).unwrap()], &globs, Actions::parse(actions)).unwrap()
}

fn entry(user: &str, password: &str) -> PasswordEntry {
    PasswordEntry {
        username: user.into(),
        hash: bcrypt::hash(password, 4).unwrap(),
        groups: vec![],
    }
}

/// alice may pull and push `alice/*`, bob `bob/*`, anyone may pull `public/*`, admin
/// may do anything.
pub fn policy() -> AccessControl {
    let rules = RuleAuthorizer::new(vec![
        rule("user:alice", &["alice/*"], "pull,push"),
        rule("user:bob", &["bob/*"], "pull,push"),
        rule("anonymous", &["public/*"], "pull"),
        rule("user:admin", &["*"], "pull,push,delete"),
    ]);
    let users = ConfigUsers::new(vec![
        entry("alice", "alice-pw"),
        entry("bob", "bob-pw"),
        entry("admin", "admin-pw"),
    ])
    .unwrap();
    AccessControl::new(Challenge::Basic { realm: "wharf".into() }, Arc::new(rules)).with_authenticator(Arc::new(users))
}

pub fn admin() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:admin-pw")
    )
}

/// Signs `user` in through the form; the session cookie.
pub async fn sign_in(ui: &Ui, user: &str, password: &str) -> Answer {
    let form = ui.get("/ui/sign-in", None).await;
    let cookie = form.cookie().unwrap();
    ui.post_form(
        "/ui/sign-in",
        Some(&cookie),
        &[("csrf", &form.csrf()), ("username", user), ("password", password)],
    )
    .await
}

#[tokio::test]
async fn each_viewer_sees_only_what_they_may_pull() {
    let ui = Ui::new(Some(policy()));
    let auth = admin();
    for name in ["alice/app", "bob/app", "public/base"] {
        ui.push_plain_image(name, "v1", Some(&auth)).await;
    }
    let anonymous = ui.get("/ui/", None).await;
    assert!(anonymous.body.contains("public/base"));
    assert!(!anonymous.body.contains("alice/app") && !anonymous.body.contains("bob/app"));
    assert!(anonymous.body.contains("Sign in"));

    let signed_in = sign_in(&ui, "alice", "alice-pw").await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
    let cookie = signed_in.cookie().expect("a new session");
    let list = ui.get("/ui/", Some(&cookie)).await;
    assert!(
        list.body.contains("Signed in as <strong>alice</strong>"),
        "{}",
        list.body
    );
    assert!(list.body.contains("alice/app"));
    assert!(!list.body.contains("bob/app"), "another user's repository is not shown");
    // Not by its address either, and it answers like a name that does not exist.
    let theirs = ui.get("/ui/repository?name=bob/app", Some(&cookie)).await;
    let nothing = ui.get("/ui/repository?name=nobody/here", Some(&cookie)).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert_eq!(nothing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        ui.get("/ui/manifest?name=bob/app&ref=v1", Some(&cookie)).await.status,
        StatusCode::NOT_FOUND
    );
    // alice may not delete: no link, and the confirmation page refuses.
    let own = ui.get("/ui/manifest?name=alice/app&ref=v1", Some(&cookie)).await;
    assert!(!own.body.contains("/ui/delete"), "no delete link without permission");
    assert_eq!(
        ui.get("/ui/delete?name=alice/app&ref=v1", Some(&cookie)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_an_admin_may_delete() {
    let ui = Ui::new(Some(policy()));
    let auth = admin();
    ui.push_plain_image("bob/app", "v1", Some(&auth)).await;
    let wrong = sign_in(&ui, "alice", "guess").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong user name or password"));

    let admin = sign_in(&ui, "admin", "admin-pw").await.cookie().unwrap();
    let page = ui.get("/ui/repository?name=bob/app", Some(&admin)).await;
    assert!(
        page.body.contains("/ui/delete?name=bob%2Fapp&amp;ref=v1"),
        "{}",
        page.body
    );
    let confirm = ui.get("/ui/delete?name=bob/app&ref=v1", Some(&admin)).await;
    let deleted = ui
        .post_form(
            "/ui/delete",
            Some(&admin),
            &[("csrf", &confirm.csrf()), ("name", "bob/app"), ("ref", "v1")],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
    let gone = ui.get("/ui/repository?name=bob/app", Some(&admin)).await;
    assert!(!gone.body.contains(">v1<"));

    // Signing out ends the session: the old form token no longer fits the new cookie.
    let token = ui.get("/ui/", Some(&admin)).await.csrf();
    let out = ui.post_form("/ui/sign-out", Some(&admin), &[("csrf", &token)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let anonymous = out.cookie().unwrap();
    let after = ui.get("/ui/", Some(&anonymous)).await;
    assert!(!after.body.contains("Signed in as"));
    assert_eq!(
        ui.post_form("/ui/sign-out", Some(&anonymous), &[("csrf", &token)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}
