//! Logs: tracing to stderr (stdout is for what commands print), text or JSON;
//! the text line of a server not at a terminal is formatted in `line`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

mod line;

/// `RUST_LOG` wins; otherwise assetd's own info lines and only warnings from
/// libraries. Lines are written by a thread of their own, in batches (see
/// [`Batches`]). The returned guard writes out what is left when it is
/// dropped: hold it until the end.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,assetd=info,tower_http=warn"));
    let batches = Batches::default();
    let writer_thread = {
        let batches = batches.clone();
        std::thread::Builder::new()
            .name("assetd-log".into())
            .spawn(move || batches.write_out(&mut std::io::stderr()))
            .ok()
    };
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(batches.clone());
    let _ = match format {
        // Colours for a person at a terminal.
        LogFormat::Text if terminal => builder.try_init(),
        LogFormat::Text => builder
            .fmt_fields(line::PlainFields)
            .event_format(line::Line::new())
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    LogGuard {
        batches,
        writer_thread,
    }
}

/// Writes out the lines still pending when dropped, and stops the log thread.
pub struct LogGuard {
    batches: Batches,
    writer_thread: Option<JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.batches.lock().closing = true;
        self.batches.0.to_logger.notify_one();
        if let Some(thread) = self.writer_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Log lines gathered in memory and written by one thread every
/// [`BATCH_INTERVAL`], in one `write` each. A line per request, each written
/// by the request's own worker, cost a fifth of the read throughput; handed
/// one by one to a thread through tracing-appender's channel, whose receiver
/// spins and yields between lines, the thread still took 15% of the
/// server's CPU at 45,000 requests a second (`scripts/bench-read` with
/// `perf`). No line is dropped: past [`BATCH_CAPACITY`] a logger waits for
/// the thread. Warnings and errors wake it at once.
#[derive(Clone, Default)]
struct Batches(Arc<Shared>);

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the log thread early.
    to_logger: Condvar,
    /// Wakes loggers waiting for room.
    to_loggers: Condvar,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// A warning or an error is waiting.
    urgent: bool,
    /// The guard is gone: write what is left and stop; later lines are
    /// written by their loggers themselves.
    closing: bool,
}

const BATCH_INTERVAL: Duration = Duration::from_millis(50);
/// Bytes after which a logger waits for the log thread.
const BATCH_CAPACITY: usize = 1 << 20;

impl Batches {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves only bytes behind.
        self.0.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log thread: writes what gathered, then sleeps until the next
    /// interval (or until woken), until the guard closes it.
    fn write_out(&self, out: &mut impl Write) {
        let mut batch = Vec::new();
        loop {
            {
                let mut pending = self.lock();
                if !pending.closing && !pending.urgent && pending.bytes.len() < BATCH_CAPACITY {
                    pending = self
                        .0
                        .to_logger
                        .wait_timeout(pending, BATCH_INTERVAL)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                if pending.closing {
                    // Under the lock: a line logged from now on is written
                    // by its logger, after these.
                    let _ = out.write_all(&pending.bytes).and_then(|()| out.flush());
                    pending.bytes.clear();
                    drop(pending);
                    self.0.to_loggers.notify_all();
                    return;
                }
                std::mem::swap(&mut pending.bytes, &mut batch);
                pending.urgent = false;
            };
            self.0.to_loggers.notify_all();
            // Nothing else can be done with a failing stderr.
            let _ = out.write_all(&batch).and_then(|()| out.flush());
            batch.clear();
        }
    }

    /// Adds one formatted event (the fmt layer writes each in one call).
    fn add(&self, line: &[u8], urgent: bool) -> std::io::Result<()> {
        let mut pending = self.lock();
        while pending.bytes.len() >= BATCH_CAPACITY && !pending.closing {
            self.0.to_logger.notify_one();
            pending = self
                .0
                .to_loggers
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        if pending.closing {
            // The thread is gone or going: after what it took, in order.
            let mut err = std::io::stderr().lock();
            err.write_all(&pending.bytes)?;
            pending.bytes.clear();
            return err.write_all(line);
        }
        pending.bytes.extend_from_slice(line);
        if urgent {
            pending.urgent = true;
            self.0.to_logger.notify_one();
        }
        Ok(())
    }
}

/// One event's writer.
pub struct BatchWriter {
    batches: Batches,
    urgent: bool,
}

impl Write for BatchWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.batches.add(buf, self.urgent)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Batches {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        BatchWriter {
            batches: self.clone(),
            urgent: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        BatchWriter {
            batches: self.clone(),
            urgent: *meta.level() <= Level::WARN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Batches, BATCH_CAPACITY};
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// What a writer wrote, shared with the test (here the log thread's;
    /// in `line`'s tests a subscriber's).
    #[derive(Clone, Default)]
    pub(super) struct Collected(Arc<Mutex<Vec<u8>>>);

    impl Collected {
        pub(super) fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Collected {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_even_past_the_capacity() {
        let batches = Batches::default();
        let collected = Collected::default();
        let thread = {
            let (batches, mut out) = (batches.clone(), collected.clone());
            std::thread::spawn(move || batches.write_out(&mut out))
        };
        // Four loggers, each more lines than the capacity holds at once.
        let line_len = 100;
        let per_logger = 2 * BATCH_CAPACITY / line_len;
        let loggers: Vec<_> = (0..4)
            .map(|logger| {
                let batches = batches.clone();
                std::thread::spawn(move || {
                    for n in 0..per_logger {
                        let line = format!("{logger} {n:>width$}\n", width = line_len - 3);
                        batches.add(line.as_bytes(), n % 1000 == 0).unwrap();
                    }
                })
            })
            .collect();
        for logger in loggers {
            logger.join().unwrap();
        }
        batches.lock().closing = true;
        batches.0.to_logger.notify_one();
        thread.join().unwrap();

        let written = collected.text();
        let mut next = [0usize; 4];
        for line in written.lines() {
            let (logger, n) = line.split_once(' ').unwrap();
            let logger: usize = logger.parse().unwrap();
            assert_eq!(n.trim().parse::<usize>().unwrap(), next[logger], "{line}");
            next[logger] += 1;
        }
        assert_eq!(next, [per_logger; 4]);
    }
}
