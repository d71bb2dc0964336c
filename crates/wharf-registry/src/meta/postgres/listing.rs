//! Sorted listings, a page at a time: each page is one range scan of a primary-key
//! index (`after` exclusive, one row more than asked to learn whether more follow), in
//! byte order because the keys use the "C" collation.

use super::PgResult;
use crate::meta::Page;
use deadpool_postgres::GenericClient;

fn page(rows: Vec<tokio_postgres::Row>, limit: Option<usize>) -> Page {
    let mut items: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let more = limit.is_some_and(|l| items.len() > l);
    if let Some(l) = limit {
        items.truncate(l);
    }
    Page { items, more }
}

/// `LIMIT` for a page of `limit` (none: everything).
fn fetch(limit: Option<usize>) -> Option<i64> {
    limit.map(|l| l.min(i64::MAX as usize - 1) as i64 + 1)
}

pub async fn tags(c: &impl GenericClient, repo: &str, after: Option<&str>, limit: Option<usize>) -> PgResult<Page> {
    let stmt = c
        .prepare_cached("SELECT tag FROM tags WHERE repo = $1 AND tag > $2 ORDER BY tag LIMIT $3")
        .await?;
    let rows = c.query(&stmt, &[&repo, &after.unwrap_or(""), &fetch(limit)]).await?;
    Ok(page(rows, limit))
}

pub async fn repositories(c: &impl GenericClient, after: Option<&str>, limit: Option<usize>) -> PgResult<Page> {
    let stmt = c
        .prepare_cached("SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2")
        .await?;
    let rows = c.query(&stmt, &[&after.unwrap_or(""), &fetch(limit)]).await?;
    Ok(page(rows, limit))
}

pub async fn repository_exists(c: &impl GenericClient, repo: &str) -> PgResult<bool> {
    let stmt = c.prepare_cached("SELECT 1 FROM repositories WHERE name = $1").await?;
    Ok(c.query_opt(&stmt, &[&repo]).await?.is_some())
}
