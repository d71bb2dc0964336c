//! The [`MetaStore`] contract of the public test kit (`wharf_registry::testkit`), run
//! against every built-in adapter.

use wharf_registry::meta::{MemoryMetaStore, SqliteMetaStore};
use wharf_registry::testkit::meta_store::*;

// `kit`: the list is the kit's whole contract, which a test checks.
on_every_meta_store!(kit:
    blob_links_are_per_repository,
    a_manifest_comes_with_its_tags_and_link,
    a_tag_moves_to_the_manifest_last_put,
    a_manifest_put_again_counts_from_its_last_push,
    records_keep_every_field,
    deleting_a_manifest_removes_its_tags_and_link,
    deleting_a_tag_leaves_the_manifest,
    tags_are_listed_in_byte_order_by_page,
    repositories_are_listed_in_byte_order_by_page,
    referrers_match_subject_repository_and_type,
    upload_sessions_advance_by_compare_and_set,
    idle_uploads_are_those_not_moved_since_the_cutoff,
    a_fixed_tag_never_moves_but_may_be_put_again,
    a_manifest_a_fixed_tag_points_at_is_not_deleted,
    a_tag_is_deleted_only_where_it_still_points,
    usage_sums_the_links_of_a_repository,
    racing_puts_set_a_fixed_tag_once,
    racing_links_stay_within_a_repository_quota,
    racing_links_stay_within_the_total_quota,
    pull_times_keep_the_latest_per_link,
    tags_page_by_keyset_by_name_and_by_push,
    collections_are_recorded_and_the_last_begun_is_read,
    a_signed_out_session_is_refused,
);
