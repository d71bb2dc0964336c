//! Every POST needs the form token bound to the session cookie: without it, with
//! another session's, or without the cookie, it is refused with 403 and changes nothing.

use crate::harness::*;
use http::StatusCode;

#[tokio::test]
async fn a_delete_without_the_sessions_token_is_refused() {
    let ui = Ui::open();
    ui.push_plain_image("app", "v1", None).await;
    let confirm = ui.get("/ui/delete?name=app&ref=v1", None).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let cookie = confirm.cookie().expect("a session cookie");
    let token = confirm.csrf();
    let other = ui.get("/ui/delete?name=app&ref=v1", None).await;
    let (other_cookie, other_token) = (other.cookie().unwrap(), other.csrf());
    assert_ne!(token, other_token);

    let fields = |csrf: &'static str| vec![("name", "app"), ("ref", "v1"), ("csrf", csrf)];
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    for (why, cookie, csrf) in [
        ("no token", Some(cookie.as_str()), None),
        ("an empty token", Some(cookie.as_str()), Some("")),
        ("a wrong token", Some(cookie.as_str()), Some("AAAA")),
        (
            "another session's token",
            Some(cookie.as_str()),
            Some(leak(other_token.clone())),
        ),
        ("no cookie", None, Some(leak(token.clone()))),
        (
            "another session's cookie",
            Some(other_cookie.as_str()),
            Some(leak(token.clone())),
        ),
    ] {
        let mut form = fields("");
        match csrf {
            Some(csrf) => form[2].1 = csrf,
            None => {
                form.pop();
            }
        }
        let answer = ui.post_form("/ui/delete", cookie, &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{why}");
        assert_eq!(
            ui.get("/v2/app/manifests/v1", None).await.status,
            StatusCode::OK,
            "{why}: tag kept"
        );
    }

    let answer = ui.post_form("/ui/delete", Some(&cookie), &fields(leak(token))).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(ui.get("/v2/app/manifests/v1", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_and_sign_out_need_the_token_too() {
    let ui = Ui::open();
    let form = ui.get("/ui/", None).await;
    let cookie = form.cookie().unwrap();
    for path in ["/ui/sign-in", "/ui/sign-out"] {
        let answer = ui
            .post_form(path, Some(&cookie), &[("username", "a"), ("password", "b")])
            .await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_scoped_to_the_ui() {
    let ui = Ui::open();
    let page = ui.get("/ui/", None).await;
    let set = page.headers["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    assert_eq!(page.headers["cache-control"], "no-store");
    // A valid cookie is kept (no new one each page).
    let again = ui.get("/ui/", Some(&page.cookie().unwrap())).await;
    assert!(again.headers.get("set-cookie").is_none());
}
