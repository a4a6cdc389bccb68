//! Media work runs in a child process (`assetd-media`, src/bin/assetd-media.rs),
//! so that a crash or hang inside libav costs one attempt, never the server.
//! Every child goes through [`MediaRunner`]: a concurrency semaphore, a time
//! limit, kill on drop, and a typed error.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use assetd_media::{
    HlsOptions, HlsOutput, MediaError, MediaErrorKind, Probe, Thumbnail, ThumbnailOptions,
};
use assetd_queue::Outcome;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::config::MediaTask;

/// What a child prints on stdout: one JSON document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ChildReply<T> {
    Ok(T),
    Err(MediaError),
}

/// Why a child gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("the media process could not be started: {0}")]
    Spawn(#[source] io::Error),
    #[error("media processing took longer than the limit of {} s", .0.as_secs())]
    TimedOut(Duration),
    #[error("the media process crashed ({0})")]
    Crashed(String),
    #[error("the media process answered with unreadable output")]
    BadOutput,
}

/// Why media work gave no result.
#[derive(Debug, thiserror::Error)]
pub enum MediaFailure {
    /// The media library's verdict on the file (unsupported, corrupt) or its own failure.
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Child(#[from] ChildError),
}

impl MediaFailure {
    /// Whose fault it was: the one classification of a failure, from the media
    /// library's verdict to the job's outcome. A time limit is a limit on the
    /// work, so it counts as the input's; a crash or an unreadable answer is
    /// counted as the system's (a poison file that crashes every time runs out
    /// of attempts).
    pub fn kind(&self) -> MediaErrorKind {
        match self {
            Self::Media(e) => e.kind,
            Self::Child(ChildError::TimedOut(_)) => MediaErrorKind::InvalidInput,
            Self::Child(_) => MediaErrorKind::System,
        }
    }

    /// A sentence for the client.
    pub fn message(&self) -> String {
        match self {
            Self::Media(e) => e.message.clone(),
            Self::Child(e) => sentence(&e.to_string()),
        }
    }
}

impl From<MediaFailure> for Outcome {
    fn from(failure: MediaFailure) -> Self {
        match failure.kind() {
            MediaErrorKind::System => Outcome::Retry(failure.message()),
            MediaErrorKind::Unsupported | MediaErrorKind::InvalidInput => {
                Outcome::Fail(failure.message())
            }
        }
    }
}

/// "the media process crashed (signal 11)" → "The media process crashed (signal 11)."
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let capitalised: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    format!("{capitalised}.")
}

/// The program media children run: `assetd-media` beside the server's own
/// binary, opened at start-up and run through `/proc/self/fd/N`, the open
/// file. Replacing or removing the file (an upgrade in place, a rebuild under
/// a running server) then changes nothing for a running server; a path would
/// start a different version or nothing, and every small upload would be
/// answered `processing` instead of `ready` (issue 8).
#[derive(Debug, Clone)]
pub struct MediaProgram {
    /// Held open for as long as a runner may start children.
    _file: Arc<std::fs::File>,
    path: PathBuf,
}

/// The media child's file name, beside `assetd`.
pub const MEDIA_BINARY: &str = "assetd-media";

impl MediaProgram {
    /// `assetd-media` in the folder of the running `assetd`.
    pub fn beside_this_binary() -> anyhow::Result<Self> {
        let server = std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("locating the assetd binary: {e}"))?;
        Self::open(&server.with_file_name(MEDIA_BINARY))
    }

    pub fn open(path: &Path) -> anyhow::Result<Self> {
        use std::os::fd::AsRawFd;
        let file = std::fs::File::open(path).map_err(|e| {
            anyhow::anyhow!(
                "opening the media program {} (install it beside assetd): {e}",
                path.display()
            )
        })?;
        Ok(Self {
            path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
            _file: Arc::new(file),
        })
    }
}

#[derive(Debug, Clone)]
pub struct MediaRunner {
    program: MediaProgram,
    permits: Arc<Semaphore>,
    timeout: Duration,
    hls_timeout: Duration,
}

impl MediaRunner {
    /// `timeout` limits probes and thumbnails; `hls_timeout` the (longer) HLS packaging.
    pub fn new(
        program: MediaProgram,
        concurrency: usize,
        timeout: Duration,
        hls_timeout: Duration,
    ) -> Self {
        Self {
            program,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
            hls_timeout,
        }
    }

    pub async fn probe(&self, path: &Path) -> Result<Probe, MediaFailure> {
        self.run(&["probe".as_ref(), path.as_os_str()], self.timeout)
            .await
    }

    /// Writes a JPEG thumbnail of `input` to `output`.
    pub async fn thumbnail(&self, input: &Path, output: &Path) -> Result<Thumbnail, MediaFailure> {
        let args = ["thumbnail".as_ref(), input.as_os_str(), output.as_os_str()];
        self.run(&args, self.timeout).await
    }

    /// Writes an HLS stream of `input` into the existing, empty `out_dir`.
    pub async fn hls(&self, input: &Path, out_dir: &Path) -> Result<HlsOutput, MediaFailure> {
        let args = ["hls".as_ref(), input.as_os_str(), out_dir.as_os_str()];
        self.run(&args, self.hls_timeout).await
    }

    async fn run<T: DeserializeOwned>(
        &self,
        args: &[&std::ffi::OsStr],
        timeout: Duration,
    ) -> Result<T, MediaFailure> {
        let reply = self.spawn_child(args, timeout).await;
        let outcome = match &reply {
            Ok(ChildReply::Ok(_)) => "ok",
            Ok(ChildReply::Err(_)) => "media_error",
            Err(ChildError::Spawn(_)) => "spawn_failed",
            Err(ChildError::TimedOut(_)) => "timed_out",
            Err(ChildError::Crashed(_)) => "crashed",
            Err(ChildError::BadOutput) => "bad_output",
        };
        let task = match args.first().and_then(|task| task.to_str()) {
            Some("probe") => "probe",
            Some("thumbnail") => "thumbnail",
            Some("hls") => "hls",
            _ => "other",
        };
        crate::stats::media_child_exit(task, outcome);
        match reply? {
            ChildReply::Ok(value) => Ok(value),
            ChildReply::Err(e) => Err(MediaFailure::Media(e)),
        }
    }

    /// Runs `assetd-media ARGS...` and parses its reply. Dropping the future
    /// (a client that went away) kills the child.
    async fn spawn_child<T: DeserializeOwned>(
        &self,
        args: &[&std::ffi::OsStr],
        timeout: Duration,
    ) -> Result<ChildReply<T>, ChildError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the media semaphore is never closed");
        let span = tracing::debug_span!("media_child", task = ?args.first());
        let _enter = span.enter();
        let child = tokio::process::Command::new(&self.program.path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(ChildError::Spawn)?;
        let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(result) => result.map_err(ChildError::Spawn)?,
            Err(_) => return Err(ChildError::TimedOut(timeout)),
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: String = stderr
                .chars()
                .rev()
                .take(500)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            tracing::warn!(status = %output.status, stderr = %tail, "media child failed");
            return Err(ChildError::Crashed(output.status.to_string()));
        }
        serde_json::from_slice(&output.stdout).map_err(|e| {
            tracing::error!(error = %e, "media child printed unreadable output");
            ChildError::BadOutput
        })
    }
}

fn encode<T: Serialize>(result: Result<T, MediaError>) -> serde_json::Result<String> {
    serde_json::to_string(&match result {
        Ok(value) => ChildReply::Ok(value),
        Err(e) => ChildReply::Err(e),
    })
}

/// The child's side: do one task, print the reply, exit 0. Anything that goes
/// wrong inside the media library becomes an `err` reply, not a crash, where it can.
pub fn child_main(task: MediaTask) -> ExitCode {
    // Die with the server: a server killed with SIGKILL must not leave a
    // transcode running on its own (its job is taken up again after a restart).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if nix::unistd::getppid().as_raw() == 1 {
        eprintln!("the server that started this media process is gone");
        return ExitCode::FAILURE;
    }
    assetd_media::init();
    let reply = match task {
        MediaTask::Probe { path } => encode(assetd_media::probe(&path)),
        MediaTask::Thumbnail { input, output } => encode(assetd_media::thumbnail(
            &input,
            &output,
            &ThumbnailOptions::default(),
        )),
        MediaTask::Hls { input, out_dir } => {
            encode(assetd_media::hls(&input, &out_dir, &HlsOptions::default()))
        }
    };
    match reply {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("could not encode the media reply: {e}");
            ExitCode::FAILURE
        }
    }
}
