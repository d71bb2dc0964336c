//! Authentication against wharf in Basic and token modes.

use crate::harness::*;
use crate::images::push_small_image;
use std::time::Duration;
use wharf_client::{ClientConfig, Credentials};

#[tokio::test]
async fn basic_credentials_are_sent_once_the_scheme_is_known() {
    let wharf = Wharf::with(Mode::Basic, Default::default()).await;
    let client = client_with(ClientConfig::default(), credentials(&wharf.host, "alice", "alice-pw"));
    let repo = wharf.repo("team/app");
    push_small_image(&client, &repo, 1, "v1").await;
    assert_eq!(client.list_tags(&repo, None).await.unwrap(), ["v1"]);

    let wrong = client_with(ClientConfig::default(), credentials(&wharf.host, "alice", "nope"));
    let err = wrong.list_tags(&repo, None).await.unwrap_err();
    assert!(err.is_auth(), "{err}");
    let anonymous = client_with(ClientConfig::default(), Credentials::new());
    let err = anonymous.list_tags(&repo, None).await.unwrap_err();
    assert!(err.is_auth(), "{err}");
    assert!(err.to_string().contains("wharf login"), "{err}");
    let reader = client_with(ClientConfig::default(), credentials(&wharf.host, "reader", "reader-pw"));
    let err = reader
        .tag(&repo, &"v1".parse().unwrap(), &["v2".parse().unwrap()])
        .await
        .unwrap_err();
    assert!(err.is_auth() && err.status() == Some(403), "{err}");
}

#[tokio::test]
async fn tokens_are_fetched_once_per_scope_and_renewed_when_they_expire() {
    let wharf = Wharf::with(Mode::Token(Duration::from_secs(13)), Default::default()).await;
    let client = client_with(ClientConfig::default(), credentials(&wharf.host, "alice", "alice-pw"));
    let repo = wharf.repo("team/app");
    push_small_image(&client, &repo, 2, "v1").await;
    assert_eq!(wharf.hits("GET", "/token"), 1, "one pull,push token for the whole push");
    for _ in 0..5 {
        client.list_tags(&repo, None).await.unwrap();
    }
    assert_eq!(wharf.hits("GET", "/token"), 1, "the pull,push token serves pulls too");
    // Tokens within 10 s of expiry are renewed, so a 13 s token is renewed after 3 s
    // (the push and the listings above take well under that).
    tokio::time::sleep(Duration::from_millis(3100)).await;
    client.list_tags(&repo, None).await.unwrap();
    client.list_tags(&repo, None).await.unwrap();
    assert_eq!(wharf.hits("GET", "/token"), 2, "renewed once");

    let wrong = client_with(ClientConfig::default(), credentials(&wharf.host, "alice", "bad"));
    assert!(wrong.list_tags(&repo, None).await.unwrap_err().is_auth());
}
