//! The web UI (`wharf_registry::ui`) through its router: hostile content stays text,
//! forms without the session's token are refused, sign-in and what each person sees.

mod access;
mod escaping;
mod forms;
mod harness;
mod paging;
mod replicas;
mod timing;
