//! Two replicas (two registries over one blob directory and one PostgreSQL database)
//! are interchangeable: what one acknowledges the other serves at once, and nothing
//! either keeps in memory outlives a change made through the other.

use crate::client::{location, OCTET_STREAM};
use crate::content::{bytes, sha256, Image};
use crate::harness::TestServer;
use futures::StreamExt;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn an_upload_started_on_one_replica_continues_on_the_other_and_finishes_on_the_first() {
    let (a, b) = TestServer::replicas().await;
    let blob = bytes(1, 300_000);
    let digest = sha256(&blob);
    let session = a.start_upload("app").await;
    let first = a.patch_chunk(&session, 0, &blob[..100_000]).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let second = b.patch_chunk(&location(&first), 100_000, &blob[100_000..200_000]).await;
    assert_eq!(
        second.status(),
        StatusCode::ACCEPTED,
        "{}",
        second.text().await.unwrap()
    );
    let status = a.get(&location(&second)).await;
    assert_eq!(status.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status.headers()["range"].to_str().unwrap(),
        "0-199999",
        "replica A sees what B received"
    );
    let done = a.put_upload(&location(&second), &digest, &blob[200_000..]).await;
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
    for replica in [&a, &b] {
        let got = replica.get(&format!("/v2/app/blobs/{digest}")).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap().as_ref(), &blob[..]);
    }
}

#[tokio::test]
async fn a_chunk_sent_to_both_replicas_at_the_same_offset_is_recorded_once() {
    let (a, b) = TestServer::replicas().await;
    let blob = bytes(2, 64_000);
    let session = a.start_upload("app").await;
    let first = a.patch_chunk(&session, 0, &blob[..32_000]).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    // The same next chunk through both replicas, one after the other: the second finds
    // the session moved on and is refused with the range the session has.
    let next = location(&first);
    assert_eq!(
        a.patch_chunk(&next, 32_000, &blob[32_000..]).await.status(),
        StatusCode::ACCEPTED
    );
    let again = b.patch_chunk(&next, 32_000, &blob[32_000..]).await;
    assert_eq!(again.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let done = b
        .request(Method::PUT, &crate::client::with_query(&next, "digest", &sha256(&blob)))
        .header("content-type", OCTET_STREAM)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
}

#[tokio::test]
async fn tags_pushed_moved_and_deleted_on_one_replica_are_seen_on_the_other_at_once() {
    let (a, b) = TestServer::replicas().await;
    let (one, two) = (Image::new(3), Image::new(4));
    a.push_image("app", "v1", &one).await;
    // B reads the tag (and would cache it, if it cached tags).
    let got = b.get("/v2/app/manifests/v1").await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().as_ref(), &one.manifest.bytes[..]);
    assert_eq!(b.tags("app").await, ["v1"]);

    a.push_image("app", "v1", &two).await;
    let moved = b.get("/v2/app/manifests/v1").await;
    assert_eq!(
        moved.bytes().await.unwrap().as_ref(),
        &two.manifest.bytes[..],
        "B serves the tag where A moved it"
    );

    assert_eq!(a.delete("/v2/app/manifests/v1").await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.get("/v2/app/manifests/v1").await.status(), StatusCode::NOT_FOUND);
    assert!(b.tags("app").await.is_empty());
}

#[tokio::test]
async fn a_manifest_deleted_on_one_replica_is_gone_on_the_other_at_once() {
    let (a, b) = TestServer::replicas().await;
    let image = Image::new(5);
    a.push_image("app", "v1", &image).await;
    let by_digest = format!("/v2/app/manifests/{}", image.manifest.digest);
    assert_eq!(b.get(&by_digest).await.status(), StatusCode::OK);
    assert_eq!(b.head_status(&by_digest).await, StatusCode::OK);
    assert_eq!(a.delete(&by_digest).await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.get(&by_digest).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.head_status(&by_digest).await, StatusCode::NOT_FOUND);
    assert_eq!(b.get("/v2/app/manifests/v1").await.status(), StatusCode::NOT_FOUND);

    // A blob unlinked through A is no longer served through B either.
    let layer = format!("/v2/app/blobs/{}", image.layer.digest);
    assert_eq!(b.head_status(&layer).await, StatusCode::OK);
    assert_eq!(a.delete(&layer).await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.head_status(&layer).await, StatusCode::NOT_FOUND);
    assert_eq!(b.get(&layer).await.status(), StatusCode::NOT_FOUND);
}

/// A chunk body that arrives in `pieces`, `gap` apart (never quiet long enough to count
/// as stalled), announced with `Content-Range` from `first`.
async fn patch_slowly(
    replica: &TestServer,
    location: &str,
    first: u64,
    chunk: Vec<u8>,
    pieces: usize,
    gap: std::time::Duration,
) -> reqwest::Response {
    let len = chunk.len();
    let size = len.div_ceil(pieces);
    let parts: Vec<Vec<u8>> = chunk.chunks(size).map(<[u8]>::to_vec).collect();
    let body = futures::stream::iter(parts).then(move |part| async move {
        tokio::time::sleep(gap).await;
        Ok::<_, std::io::Error>(part)
    });
    replica
        .request(Method::PATCH, location)
        .header("content-type", OCTET_STREAM)
        .header("content-range", format!("{first}-{}", first + len as u64 - 1))
        .header("content-length", len)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap()
}

/// Which of two answers to the same chunk won: exactly one is 202, the other 416 (the
/// session had moved on when it got its turn) with the winner's range.
async fn one_winner(a: reqwest::Response, b: reqwest::Response, winner_end: u64) -> bool {
    let (a_status, b_status) = (a.status(), b.status());
    let (won, lost) = match (a_status, b_status) {
        (StatusCode::ACCEPTED, _) => (a, b),
        (_, StatusCode::ACCEPTED) => (b, a),
        _ => panic!(
            "neither chunk was taken: {a_status} {}, {b_status} {}",
            a.text().await.unwrap(),
            b.text().await.unwrap()
        ),
    };
    let a_won = a_status == StatusCode::ACCEPTED;
    assert_eq!(
        won.headers()["range"].to_str().unwrap(),
        format!("0-{}", winner_end - 1)
    );
    let lost_status = lost.status();
    let lost_range = lost.headers().get("range").map(|r| r.to_str().unwrap().to_string());
    let body = lost.text().await.unwrap();
    assert_eq!(lost_status, StatusCode::RANGE_NOT_SATISFIABLE, "the loser: {body}");
    assert_eq!(lost_range.as_deref(), Some(format!("0-{}", winner_end - 1).as_str()));
    a_won
}

/// Two replicas over S3 and PostgreSQL get the same next chunk of one session (other
/// bytes, same range) at once; A's arrives slowly, B's whole meanwhile. Exactly one is
/// taken, the other is answered 416 with the session's range, and the blob is the
/// winner's bytes: the loser's never become part of it (its segments are not named by
/// the upload's record).
#[tokio::test]
async fn the_same_chunk_sent_to_two_replicas_at_once_is_taken_from_one_and_never_mixed() {
    let (a, b) = TestServer::s3_replicas().await;
    let head = bytes(10, 200_000);
    let (slow, fast) = (bytes(11, 300_000), bytes(12, 300_000));
    let session = a.start_upload("app").await;
    let first = a.patch_chunk(&session, 0, &head).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let next = location(&first);
    let gap = std::time::Duration::from_millis(150);
    let through_a = patch_slowly(&a, &next, 200_000, slow.clone(), 8, gap);
    let through_b = async {
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        b.patch_chunk(&next, 200_000, &fast).await
    };
    let (from_a, from_b) = tokio::join!(through_a, through_b);
    let winner = if one_winner(from_a, from_b, 500_000).await {
        slow
    } else {
        fast
    };
    let blob = [head, winner].concat();
    let done = b.put_upload(&next, &sha256(&blob), &[]).await;
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
    for replica in [&a, &b] {
        let got = replica.get(&format!("/v2/app/blobs/{}", sha256(&blob))).await;
        assert_eq!(got.status(), StatusCode::OK);
        assert!(got.bytes().await.unwrap() == blob, "the blob is the winner's bytes");
    }
}

/// The same race with both bodies sent whole at the same moment, a few times over, each
/// round on the session the previous one left.
#[tokio::test]
async fn chunks_racing_through_two_replicas_leave_one_consistent_upload() {
    let (a, b) = TestServer::s3_replicas().await;
    let session = a.start_upload("app").await;
    let mut blob = Vec::new();
    let mut next = session;
    for round in 0..4u64 {
        let (one, two) = (bytes(20 + 2 * round, 150_000), bytes(21 + 2 * round, 150_000));
        let at = blob.len() as u64;
        let (from_a, from_b) = tokio::join!(a.patch_chunk(&next, at, &one), b.patch_chunk(&next, at, &two));
        let won_location = if from_a.status() == StatusCode::ACCEPTED {
            location(&from_a)
        } else {
            location(&from_b)
        };
        let a_won = one_winner(from_a, from_b, at + 150_000).await;
        blob.extend_from_slice(if a_won { &one } else { &two });
        next = won_location;
    }
    let done = a.put_upload(&next, &sha256(&blob), &[]).await;
    assert_eq!(done.status(), StatusCode::CREATED, "{}", done.text().await.unwrap());
    let got = b.get(&format!("/v2/app/blobs/{}", sha256(&blob))).await;
    assert!(got.bytes().await.unwrap() == blob);
}
