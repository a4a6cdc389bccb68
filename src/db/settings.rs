//! Settings that every node of a cluster must share.

use super::Pool;

/// The stored value of `name`, which becomes `candidate` if none is stored
/// yet. Nodes that start at once all get the value of whichever wrote first.
pub async fn get_or_insert(pool: &Pool, name: &str, candidate: &str) -> sqlx::Result<String> {
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(candidate)
        .execute(pool)
        .await?;
    let (value,): (String,) = sqlx::query_as("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(value)
}
