//! The text log line, formatted by assetd rather than by tracing-subscriber's
//! default formatter, when stderr is not a terminal (a terminal keeps the
//! default's colours). The line is the default's, byte for byte apart from
//! the time (checked by the tests below):
//!
//! `2026-12-03T14:43:28.684510Z  INFO request{method=GET path=/v1.3/assets request_id=... account=...}: assetd::http: request finished status=200 latency_ms=0.4`
//!
//! Why: every request writes such a line, and the default formatter paints
//! each part with a style even when colours are off (an empty style, but
//! still a `Display` call through nu_ansi_term each time) and formats the
//! time from scratch. With it, logging took 19,000 of the 114,000
//! instructions of a `GET /v1.3/assets/ID` (`scripts/bench-read-instructions`
//! with and without `RUST_LOG=warn`).

use std::cell::RefCell;
use std::error::Error;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{self, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats an event: time, level, the spans it is in with their fields,
/// target, fields.
pub struct Line {
    /// For the events of libraries that log through the `log` crate, whose
    /// real target and level only the default formatter restores.
    default: format::Format,
}

impl Line {
    pub fn new() -> Self {
        Self {
            default: format::Format::default().with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() == "log" {
            return self.default.format_event(ctx, writer, event);
        }
        write_time(&mut writer, SystemTime::now())?;
        write!(writer, " {:>5} ", meta.level().as_str())?;
        let mut in_a_span = false;
        for span in ctx
            .event_scope()
            .into_iter()
            .flat_map(|scope| scope.from_root())
        {
            writer.write_str(span.name())?;
            in_a_span = true;
            let extensions = span.extensions();
            if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                if !fields.is_empty() {
                    write!(writer, "{{{fields}}}")?;
                }
            }
            writer.write_char(':')?;
        }
        if in_a_span {
            writer.write_char(' ')?;
        }
        write!(writer, "{}: ", meta.target())?;
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

thread_local! {
    /// The current second as text, formatted once a second per thread.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber writes it.
fn write_time(writer: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != seconds {
            let time = i64::try_from(seconds)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            text.clear();
            write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                time.year(),
                u8::from(time.month()),
                time.day(),
                time.hour(),
                time.minute(),
                time.second()
            )?;
            *second = seconds;
        }
        write!(writer, "{text}.{:06}Z", since_epoch.subsec_micros())
    })
}

/// Formats fields as `name=value` separated by spaces, the message bare,
/// strings quoted: as tracing-subscriber's default, without styles.
pub struct PlainFields;

impl<'a> MakeVisitor<Writer<'a>> for PlainFields {
    type Visitor = PlainVisitor<'a>;

    fn make_visitor(&self, writer: Writer<'a>) -> PlainVisitor<'a> {
        PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        }
    }
}

pub struct PlainVisitor<'a> {
    writer: Writer<'a>,
    first: bool,
    result: fmt::Result,
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!("{value} {}.sources={}", field.name(), Sources(source)),
            ),
            None => self.record_debug(field, &format_args!("{value}")),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = field.name();
        // The fields the `log` crate's records carry about themselves.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let separator = if self.first { "" } else { " " };
        self.first = false;
        self.result = match name {
            "message" => write!(self.writer, "{separator}{value:?}"),
            name => {
                let name = name.strip_prefix("r#").unwrap_or(name);
                write!(self.writer, "{separator}{name}={value:?}")
            }
        };
    }
}

impl VisitOutput<fmt::Result> for PlainVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for PlainVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// An error's sources, `[first, second]`.
struct Sources<'a>(&'a (dyn Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut source = Some(self.0);
        while let Some(error) = source {
            list.entry(&format_args!("{error}"));
            source = error.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{write_time, Line, PlainFields};
    use crate::telemetry::tests::Collected;
    use std::fmt;
    use std::time::{Duration, UNIX_EPOCH};

    /// Each line without its time (27 characters, checked).
    fn lines_after_the_time(written: &Collected) -> Vec<String> {
        written
            .text()
            .lines()
            .map(|line| {
                let (time, rest) = line.split_at(27);
                assert!(time.ends_with('Z') && &time[10..11] == "T", "{line}");
                assert!(time[20..26].bytes().all(|b| b.is_ascii_digit()), "{line}");
                rest.to_string()
            })
            .collect()
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("could not keep the file")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// What a server logs: a request span with a field recorded later,
    /// a nested span, errors with and without sources, strings, raw names.
    fn log_a_server_s_lines() {
        tracing::info!(addr = %"127.0.0.1:8080", "listening");
        let request = tracing::info_span!(
            "request",
            method = %"GET",
            path = %"/v1.3/assets",
            request_id = %"0c6b6fb5",
            account = tracing::field::Empty,
        );
        let _request = request.enter();
        request.record("account", tracing::field::display("01a23c31"));
        tracing::info!(status = 200u16, latency_ms = 0.4, "request finished");
        let job = tracing::warn_span!("job", kind = "hls", r#type = 3);
        let _job = job.enter();
        let error = Outer(std::io::Error::other("disk full"));
        tracing::warn!(error = &error as &dyn std::error::Error, "retrying");
        let plain = std::io::Error::other("gone");
        tracing::error!(
            error = &plain as &dyn std::error::Error,
            name = "a \"quoted\" name",
            done = false,
            "job {} failed",
            7
        );
        tracing::debug!("not shown");
    }

    #[test]
    fn lines_are_the_default_formatter_s_without_styles() {
        let ours = Collected::default();
        let default = Collected::default();
        let subscriber = |writer: Collected| {
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || writer.clone())
        };
        tracing::subscriber::with_default(
            subscriber(ours.clone())
                .fmt_fields(PlainFields)
                .event_format(Line::new())
                .finish(),
            log_a_server_s_lines,
        );
        tracing::subscriber::with_default(
            subscriber(default.clone()).finish(),
            log_a_server_s_lines,
        );
        let expected = lines_after_the_time(&default);
        assert_eq!(expected.len(), 4, "{expected:?}");
        assert_eq!(
            expected[1],
            "  INFO request{method=GET path=/v1.3/assets request_id=0c6b6fb5 account=01a23c31}: \
             assetd::telemetry::line::tests: request finished status=200 latency_ms=0.4"
        );
        assert_eq!(lines_after_the_time(&ours), expected);
    }

    #[test]
    fn the_time_is_rfc_3339_in_utc_with_microseconds() {
        let mut text = String::new();
        write_time(
            &mut text,
            UNIX_EPOCH + Duration::new(1_764_772_408, 684_510_999),
        )
        .unwrap();
        assert_eq!(text, "2025-12-03T14:33:28.684510Z");
        // The same second again comes from the thread's cached text.
        text.clear();
        write_time(&mut text, UNIX_EPOCH + Duration::new(1_764_772_408, 5_000)).unwrap();
        assert_eq!(text, "2025-12-03T14:33:28.000005Z");
        text.clear();
        write_time(&mut text, UNIX_EPOCH + Duration::new(951_868_799, 0)).unwrap();
        assert_eq!(text, "2000-02-29T23:59:59.000000Z");
    }
}
