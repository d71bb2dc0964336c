//! What the metadata store is told of the lifecycle policies (immutable tags): only
//! which tags to guard, never the policies themselves.

use std::sync::Arc;

/// Which tag names are guarded (immutable), as a predicate the store calls inside its
/// transaction, for the tags it finds there.
pub type TagFilter = Arc<dyn Fn(&str) -> bool + Send + Sync>;
