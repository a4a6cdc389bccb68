//! Reads that answer most requests (an asset by id), straight from the SQLite
//! file on the calling thread. sqlx's SQLite driver runs each connection on a
//! thread of its own and hands every statement and every row across channels:
//! with `scripts/bench-read`, about 60% of the server's CPU went to those
//! thread switches, and SQLite itself to under 2%. A lookup by key takes a
//! few microseconds, less than one switch, so it runs inline on the async
//! worker. Only reads with a bounded cost belong here (never a scan), so that
//! no worker is held up; everything else stays on sqlx.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use rusqlite::{Connection, OpenFlags};

/// The SQLite file of the server's database, for reads on the calling thread.
#[derive(Debug, Clone)]
pub struct InlineReads {
    path: PathBuf,
}

thread_local! {
    /// Each thread's own read-only connections, by file: opened on first use
    /// and kept, with their prepared statements, for the thread's life.
    static CONNECTIONS: RefCell<HashMap<PathBuf, Connection>> = RefCell::new(HashMap::new());
}

impl InlineReads {
    /// For a `sqlite:` database URL (read as sqlx reads it); None for other
    /// databases and for an in-memory one.
    pub fn of_url(url: &str) -> Option<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if super::Dialect::of_url(url) != Some(super::Dialect::Sqlite) || in_memory {
            return None;
        }
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        Some(Self {
            path: options.get_filename().to_path_buf(),
        })
    }

    /// Runs `read` on this thread's connection to the file.
    pub fn with<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        CONNECTIONS.with(|connections| {
            let mut connections = connections.borrow_mut();
            let connection = match connections.get(&self.path) {
                Some(connection) => connection,
                None => {
                    let connection = Connection::open_with_flags(
                        &self.path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    // As the pool's connections: wait for a checkpoint rather than fail.
                    connection.busy_timeout(std::time::Duration::from_secs(10))?;
                    connections.entry(self.path.clone()).or_insert(connection)
                }
            };
            read(connection)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::InlineReads;

    #[test]
    fn only_a_sqlite_file_reads_inline() {
        let reads = InlineReads::of_url("sqlite:///var/lib/assetd/assetd.db").unwrap();
        assert_eq!(
            reads.path,
            std::path::Path::new("/var/lib/assetd/assetd.db")
        );
        assert!(InlineReads::of_url("postgres://assetd@db:5432/assetd").is_none());
        assert!(InlineReads::of_url("sqlite::memory:").is_none());
    }
}
