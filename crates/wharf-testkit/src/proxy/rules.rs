//! What a test tells the proxy to break, and what the proxy saw: the rule list consulted
//! for each request and the log of every request answered (or not).

use std::sync::Mutex;

use http::Method;

/// Breaks matching requests, `times` times.
///
/// A request matches when its method equals `method` (any method if `None`) and its
/// path-and-query contains `path_contains` (every request if empty). Rules are consulted
/// in the order they were added; the first matching rule with `times` left fires and
/// counts down by one. A spent rule stays in the list and matches nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRule {
    pub method: Option<Method>,
    pub path_contains: String,
    pub times: u32,
    pub fault: Fault,
}

impl FaultRule {
    /// A rule for any method that fires once; change it with [`FaultRule::method`] and
    /// [`FaultRule::times`].
    pub fn new(path_contains: impl Into<String>, fault: Fault) -> FaultRule {
        FaultRule {
            method: None,
            path_contains: path_contains.into(),
            times: 1,
            fault,
        }
    }

    /// Only requests with this method match.
    pub fn method(mut self, method: Method) -> FaultRule {
        self.method = Some(method);
        self
    }

    /// Fires on the first `times` matching requests.
    pub fn times(mut self, times: u32) -> FaultRule {
        self.times = times;
        self
    }

    fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.times > 0
            && self.method.as_ref().is_none_or(|m| m == method)
            && path_and_query.contains(&self.path_contains)
    }
}

/// What happens to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answers `status` without forwarding, with a distribution-spec error body
    /// (`TOOMANYREQUESTS` for 429, `UNAVAILABLE` otherwise) and `Retry-After` if given.
    /// The request body is read and discarded first, so the client sees the answer
    /// rather than a reset connection.
    Status { status: u16, retry_after: Option<String> },
    /// Forwards; sends the upstream's status, headers (Content-Length kept) and the
    /// first `bytes` bytes of its body, then closes the connection. The client sees an
    /// incomplete body after exactly `bytes` bytes. A body no longer than `bytes`
    /// arrives whole.
    DropResponseAfter { bytes: u64 },
    /// Forwards, but flips the lowest bit of one byte of the response body: the byte in
    /// the middle by Content-Length (the first byte if the length is unknown). Same
    /// length, same headers: the hardest corruption to notice, which only a digest
    /// check catches.
    CorruptResponse,
    /// Forwards the request head and exactly the first `bytes` bytes of its body to the
    /// upstream (Content-Length kept, so the upstream sees a truncated request, and the
    /// upstream connection is then closed), waits until the upstream has it, and closes
    /// the client's connection without an answer. A body no longer than `bytes`
    /// reaches the upstream whole; then the proxy waits for the upstream's answer and
    /// discards it, so the request took effect but the client never learns it.
    DropRequestAfter { bytes: u64 },
    /// Waits `millis` milliseconds, then forwards.
    Delay { millis: u64 },
    /// Forwards; sends the upstream's status, headers and the first `bytes` bytes of its
    /// body, then nothing more, with the connection left open: a network gone silent
    /// mid-download. The client waits until its own patience ends, or is killed.
    StallResponseAfter { bytes: u64 },
    /// Forwards the request head and the first `bytes` bytes of its body to the
    /// upstream, then closes the upstream connection (the upstream sees a truncated
    /// request), reads nothing more from the client and never answers it: a network gone
    /// silent mid-upload. A body no longer than `bytes` is handled as by
    /// [`Fault::DropRequestAfter`], then left unanswered.
    StallRequestAfter { bytes: u64 },
}

/// One request the proxy received, in the order they arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: Method,
    pub path_and_query: String,
    /// The status the client was sent: the upstream's, the fault's, or the proxy's own
    /// 502/504 when the upstream failed. `None` while the request is in flight, and for
    /// a request whose connection was closed without an answer.
    pub status: Option<u16>,
    /// The fault that fired on this request, if any.
    pub fault: Option<Fault>,
}

/// The rules and the log, shared by the connection tasks and the test's thread.
#[derive(Default)]
pub(crate) struct Book {
    rules: Mutex<Vec<FaultRule>>,
    seen: Mutex<Vec<SeenRequest>>,
}

impl Book {
    pub(crate) fn add(&self, rule: FaultRule) {
        self.rules.lock().unwrap().push(rule);
    }

    pub(crate) fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().unwrap().clone()
    }

    /// Logs a request on arrival and returns its place in the log with the fault that
    /// fires on it, counting the rule down.
    pub(crate) fn arrive(&self, method: &Method, path_and_query: &str) -> (usize, Option<Fault>) {
        let fault = {
            let mut rules = self.rules.lock().unwrap();
            rules
                .iter_mut()
                .find(|rule| rule.matches(method, path_and_query))
                .map(|rule| {
                    rule.times -= 1;
                    rule.fault.clone()
                })
        };
        let mut seen = self.seen.lock().unwrap();
        seen.push(SeenRequest {
            method: method.clone(),
            path_and_query: path_and_query.to_string(),
            status: None,
            fault: fault.clone(),
        });
        (seen.len() - 1, fault)
    }

    /// Records the status sent for the request at `index`.
    pub(crate) fn answered(&self, index: usize, status: u16) {
        self.seen.lock().unwrap()[index].status = Some(status);
    }
}
