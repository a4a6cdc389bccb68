//! Logs: tracing to stderr (stdout is for what commands print), text or JSON.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// `RUST_LOG` wins; otherwise assetd's own info lines and only warnings from
/// libraries. Lines are written by a thread of their own, in batches: a line
/// per request written by the request's own worker, one `write` each, cost a
/// fifth of the read throughput (`scripts/bench-read`). No line is dropped
/// (the queue is not lossy: a full one makes the logger wait). The returned
/// guard writes out what is left when it is dropped: hold it until the end.
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,assetd=info,tower_http=warn"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("assetd-log")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    guard
}
