//! What the registry measures, recorded through the [`metrics`] facade.
//!
//! The library only records; it installs no recorder and serves nothing. Without a
//! recorder (an application that does not want metrics) every call here is a check of
//! one global and nothing more. The `wharf` binary installs a Prometheus recorder and
//! serves `/metrics`; an embedding application may install any `metrics` recorder.
//!
//! No label ever holds a repository name, a tag, a digest or a user: only closed sets
//! (the endpoint kind, the method, the status, the database, the reason), so the number
//! of series stays small whatever is pushed.
//!
//! The names, each with its labels:
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `wharf_http_requests_total` | counter | `endpoint`, `method`, `status` | requests answered |
//! | `wharf_http_request_duration_seconds` | histogram | `endpoint`, `method`, `class` | time to the response's head |
//! | `wharf_http_received_bytes_total` | counter | `endpoint` | request bodies, by their declared length |
//! | `wharf_http_sent_bytes_total` | counter | `endpoint` | response bodies, by their declared length |
//! | `wharf_uploads_in_progress` | gauge | | upload requests whose body is being received |
//! | `wharf_auth_failures_total` | counter | `reason` | refused credentials |
//! | `wharf_auth_throttled_total` | counter | | logins refused by the throttle (429) |
//! | `wharf_auth_limit_unavailable_total` | counter | | logins refused because the shared failed-login limit's database could not be reached (503) |
//! | `wharf_db_commit_duration_seconds` | histogram | `db` | one group commit, BEGIN to COMMIT |
//! | `wharf_db_commit_group_size` | histogram | `db` | writes in one group commit |
//! | `wharf_db_sync_duration_seconds` | histogram | `db` | one fsync of the WAL (durable mode) |
//! | `wharf_cache_lookups_total` | counter | `cache`, `result` | `hit` or `miss` |
//! | `wharf_gc_runs_total` | counter | `result` | collections, `ok` or `error` (dry runs not counted) |
//! | `wharf_gc_duration_seconds` | histogram | | one collection |
//! | `wharf_gc_removed_total` | counter | `kind` | manifests, links, blobs, stray blobs, orphan uploads removed |
//! | `wharf_gc_freed_bytes_total` | counter | | bytes given back |
//! | `wharf_storage_blobs` / `wharf_storage_blob_bytes` | gauge | | blobs held and their bytes, as of the last collection |
//! | `wharf_events_delivered_total` | counter | `endpoint` | events an endpoint accepted |
//! | `wharf_events_failed_attempts_total` | counter | `endpoint` | deliveries that failed (retried) |
//! | `wharf_events_dropped_total` | counter | `endpoint` | events given up after the maximum age |
//! | `wharf_pull_through_fetches_total` | counter | `kind`, `result` | fetches from an upstream (`blob`, `manifest`), `ok` or `error` |
//! | `wharf_pull_through_stale_total` | counter | `reason` | cached tags served unchecked: the upstream was `unavailable` (unreachable, 429, 5xx) or `failed` (refused, broken answer) |

use std::time::Duration;

pub const HTTP_REQUESTS: &str = "wharf_http_requests_total";
pub const HTTP_DURATION: &str = "wharf_http_request_duration_seconds";
pub const HTTP_RECEIVED: &str = "wharf_http_received_bytes_total";
pub const HTTP_SENT: &str = "wharf_http_sent_bytes_total";
pub const UPLOADS_IN_PROGRESS: &str = "wharf_uploads_in_progress";
pub const AUTH_FAILURES: &str = "wharf_auth_failures_total";
pub const AUTH_THROTTLED: &str = "wharf_auth_throttled_total";
pub const AUTH_LIMIT_UNAVAILABLE: &str = "wharf_auth_limit_unavailable_total";
pub const DB_COMMIT_DURATION: &str = "wharf_db_commit_duration_seconds";
pub const DB_COMMIT_GROUP: &str = "wharf_db_commit_group_size";
pub const DB_SYNC_DURATION: &str = "wharf_db_sync_duration_seconds";
pub const CACHE_LOOKUPS: &str = "wharf_cache_lookups_total";
pub const GC_RUNS: &str = "wharf_gc_runs_total";
pub const GC_DURATION: &str = "wharf_gc_duration_seconds";
pub const GC_REMOVED: &str = "wharf_gc_removed_total";
pub const GC_FREED_BYTES: &str = "wharf_gc_freed_bytes_total";
pub const STORAGE_BLOBS: &str = "wharf_storage_blobs";
pub const STORAGE_BLOB_BYTES: &str = "wharf_storage_blob_bytes";
pub const PULL_THROUGH_FETCHES: &str = "wharf_pull_through_fetches_total";
pub const PULL_THROUGH_STALE: &str = "wharf_pull_through_stale_total";

/// Registers a description of each metric with the installed recorder (for `# HELP`
/// lines). Call it once, after installing the recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, by endpoint kind, method and status code"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to the response's head, by endpoint kind, method and status class"
    );
    describe_counter!(
        HTTP_RECEIVED,
        Unit::Bytes,
        "Request body bytes, as declared by Content-Length"
    );
    describe_counter!(
        HTTP_SENT,
        Unit::Bytes,
        "Response body bytes, as declared by Content-Length"
    );
    describe_gauge!(UPLOADS_IN_PROGRESS, "Upload requests whose body is being received now");
    describe_counter!(AUTH_FAILURES, "Credentials refused, by reason");
    describe_counter!(AUTH_THROTTLED, "Logins refused by the failed-login throttle");
    describe_counter!(
        AUTH_LIMIT_UNAVAILABLE,
        "Logins refused because the shared failed-login limit could not be consulted"
    );
    describe_histogram!(
        DB_COMMIT_DURATION,
        Unit::Seconds,
        "One SQLite group commit, BEGIN to COMMIT"
    );
    describe_histogram!(DB_COMMIT_GROUP, "Writes committed together in one SQLite group commit");
    describe_histogram!(
        DB_SYNC_DURATION,
        Unit::Seconds,
        "One fsync of the SQLite WAL (durable mode)"
    );
    describe_counter!(CACHE_LOOKUPS, "Lookups of in-memory caches, hit or miss");
    describe_counter!(GC_RUNS, "Garbage collections run (dry runs not counted)");
    describe_histogram!(GC_DURATION, Unit::Seconds, "Time one garbage collection took");
    describe_counter!(GC_REMOVED, "Things garbage collection removed, by kind");
    describe_counter!(GC_FREED_BYTES, Unit::Bytes, "Bytes garbage collection gave back");
    describe_counter!(EVENTS_DELIVERED, "Events an endpoint accepted, by endpoint");
    describe_counter!(
        EVENTS_FAILED_ATTEMPTS,
        "Event deliveries that failed and will be retried, by endpoint"
    );
    describe_counter!(EVENTS_DROPPED, "Events given up after the maximum age, by endpoint");
    describe_gauge!(
        STORAGE_BLOBS,
        "Blobs held in the blob store, as of the last garbage collection"
    );
    describe_gauge!(
        STORAGE_BLOB_BYTES,
        Unit::Bytes,
        "Bytes of the blobs held, as of the last garbage collection"
    );
    describe_counter!(
        PULL_THROUGH_FETCHES,
        "Blobs and manifests fetched from an upstream on a miss, by result"
    );
    describe_counter!(
        PULL_THROUGH_STALE,
        "Cached tags served without the upstream's confirmation, by why it gave none"
    );
}

/// A method as a label: the ones the API uses, anything else `other` (a client may send
/// any token as a method; it must not become a new series).
pub(crate) fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::PUT => "PUT",
        http::Method::POST => "POST",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The status code as a label, without formatting one for the common codes.
fn status_label(status: u16) -> metrics::SharedString {
    let common = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        206 => "206",
        304 => "304",
        307 => "307",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        413 => "413",
        416 => "416",
        429 => "429",
        500 => "500",
        503 => "503",
        507 => "507",
        other => return metrics::SharedString::from(other.to_string()),
    };
    metrics::SharedString::const_str(common)
}

/// One request answered.
pub(crate) fn request(
    endpoint: &'static str,
    method: &'static str,
    status: u16,
    took: Duration,
    received: u64,
    sent: u64,
) {
    metrics::counter!(HTTP_REQUESTS, "endpoint" => endpoint, "method" => method, "status" => status_label(status))
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "endpoint" => endpoint, "method" => method, "class" => status_class(status))
        .record(took.as_secs_f64());
    if received > 0 {
        metrics::counter!(HTTP_RECEIVED, "endpoint" => endpoint).increment(received);
    }
    if sent > 0 {
        metrics::counter!(HTTP_SENT, "endpoint" => endpoint).increment(sent);
    }
}

/// Counts an upload request in progress while it lives.
pub(crate) struct UploadInProgress(());

impl UploadInProgress {
    pub(crate) fn start() -> UploadInProgress {
        metrics::gauge!(UPLOADS_IN_PROGRESS).increment(1.0);
        UploadInProgress(())
    }
}

impl Drop for UploadInProgress {
    fn drop(&mut self) {
        metrics::gauge!(UPLOADS_IN_PROGRESS).decrement(1.0);
    }
}

/// Credentials refused; `reason` is one of a closed set (`bad_password`, `bad_token`,
/// `unsupported`, `unavailable`, `malformed`).
pub(crate) fn auth_failure(reason: &'static str) {
    metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
}

/// A login refused by the throttle.
pub(crate) fn auth_throttled() {
    metrics::counter!(AUTH_THROTTLED).increment(1);
}

/// A login refused because the failed-login limit could not be consulted.
pub(crate) fn auth_limit_unavailable() {
    metrics::counter!(AUTH_LIMIT_UNAVAILABLE).increment(1);
}

/// One group commit of the SQLite writer of `db` ("metadata", "small blobs").
pub(crate) fn db_commit(db: &'static str, writes: usize, took: Duration) {
    metrics::histogram!(DB_COMMIT_DURATION, "db" => db).record(took.as_secs_f64());
    metrics::histogram!(DB_COMMIT_GROUP, "db" => db).record(writes as f64);
}

/// One fsync of the WAL of `db`.
pub(crate) fn db_sync(db: &'static str, took: Duration) {
    metrics::histogram!(DB_SYNC_DURATION, "db" => db).record(took.as_secs_f64());
}

/// A lookup of the in-memory cache `cache`.
pub(crate) fn cache_lookup(cache: &'static str, hit: bool) {
    metrics::counter!(CACHE_LOOKUPS, "cache" => cache, "result" => if hit { "hit" } else { "miss" }).increment(1);
}

/// A collection that ended, with what it removed (not counted for dry runs).
pub(crate) fn gc_run(report: Result<&crate::registry::gc::GcReport, ()>) {
    let report = match report {
        Ok(r) if r.dry_run => return,
        Ok(r) => r,
        Err(()) => {
            metrics::counter!(GC_RUNS, "result" => "error").increment(1);
            return;
        }
    };
    metrics::counter!(GC_RUNS, "result" => "ok").increment(1);
    metrics::histogram!(GC_DURATION).record(report.took.as_secs_f64());
    for (kind, tally) in [
        ("manifests", report.manifests),
        ("links", report.links),
        ("blobs", report.blobs),
        ("stray_blobs", report.stray_blobs),
        ("orphan_uploads", report.orphan_uploads),
    ] {
        metrics::counter!(GC_REMOVED, "kind" => kind).increment(tally.count);
    }
    metrics::counter!(GC_FREED_BYTES).increment(report.bytes_freed());
}

/// What the blob store holds, as a collection counted it.
pub(crate) fn storage(blobs: u64, bytes: u64) {
    metrics::gauge!(STORAGE_BLOBS).set(blobs as f64);
    metrics::gauge!(STORAGE_BLOB_BYTES).set(bytes as f64);
}

// Event notifications (see crate::events), by endpoint name (a configured, closed set).

/// `wharf_events_delivered_total{endpoint}`: events an endpoint accepted.
pub const EVENTS_DELIVERED: &str = "wharf_events_delivered_total";
/// `wharf_events_failed_attempts_total{endpoint}`: deliveries that failed (retried).
pub const EVENTS_FAILED_ATTEMPTS: &str = "wharf_events_failed_attempts_total";
/// `wharf_events_dropped_total{endpoint}`: events given up after the maximum age.
pub const EVENTS_DROPPED: &str = "wharf_events_dropped_total";

pub(crate) fn event_delivered(endpoint: &str) {
    metrics::counter!(EVENTS_DELIVERED, "endpoint" => endpoint.to_string()).increment(1);
}

pub(crate) fn event_attempt_failed(endpoint: &str) {
    metrics::counter!(EVENTS_FAILED_ATTEMPTS, "endpoint" => endpoint.to_string()).increment(1);
}

pub(crate) fn event_dropped(endpoint: &str) {
    metrics::counter!(EVENTS_DROPPED, "endpoint" => endpoint.to_string()).increment(1);
}

/// A blob or manifest fetched from an upstream (`kind`), whether it was cached.
pub(crate) fn pull_through_fetch(kind: &'static str, ok: bool) {
    metrics::counter!(PULL_THROUGH_FETCHES, "kind" => kind, "result" => if ok { "ok" } else { "error" }).increment(1);
}

/// A cached tag served although the upstream could not confirm it (`reason`:
/// `unavailable` or `failed`).
pub(crate) fn pull_through_stale(reason: &'static str) {
    metrics::counter!(PULL_THROUGH_STALE, "reason" => reason).increment(1);
}
