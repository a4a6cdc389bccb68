//! Media work runs in a child process of this same binary (`assetd media-child`),
//! so that a crash or hang inside libav costs one attempt, never the server.
//! Every child goes through [`MediaRunner`]: a concurrency semaphore, a time
//! limit, kill on drop, and a typed error.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use assetd_media::{MediaError, Probe};
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

/// Why a probe did not return a description of the file.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The media library's verdict on the file (unsupported, corrupt) or its own failure.
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Child(#[from] ChildError),
}

#[derive(Debug, Clone)]
pub struct MediaRunner {
    exe: PathBuf,
    permits: Arc<Semaphore>,
    timeout: Duration,
}

impl MediaRunner {
    pub fn new(exe: PathBuf, concurrency: usize, timeout: Duration) -> Self {
        Self {
            exe,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
        }
    }

    pub async fn probe(&self, path: &Path) -> Result<Probe, ProbeError> {
        let reply: ChildReply<Probe> = self.run(&["probe".as_ref(), path.as_os_str()]).await?;
        match reply {
            ChildReply::Ok(probe) => Ok(probe),
            ChildReply::Err(e) => Err(ProbeError::Media(e)),
        }
    }

    /// Runs `assetd media-child ARGS...` and parses its reply. Dropping the future
    /// (a client that went away) kills the child.
    async fn run<T: DeserializeOwned>(&self, args: &[&std::ffi::OsStr]) -> Result<T, ChildError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the media semaphore is never closed");
        let span = tracing::debug_span!("media_child", task = ?args.first());
        let _enter = span.enter();
        let child = tokio::process::Command::new(&self.exe)
            .arg("media-child")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(ChildError::Spawn)?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(result) => result.map_err(ChildError::Spawn)?,
            Err(_) => return Err(ChildError::TimedOut(self.timeout)),
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

/// The child's side: do one task, print the reply, exit 0. Anything that goes
/// wrong inside the media library becomes an `err` reply, not a crash, where it can.
pub fn child_main(task: MediaTask) -> ExitCode {
    assetd_media::init();
    let reply = match task {
        MediaTask::Probe { path } => match assetd_media::probe(&path) {
            Ok(probe) => serde_json::to_string(&ChildReply::Ok(probe)),
            Err(e) => serde_json::to_string(&ChildReply::<Probe>::Err(e)),
        },
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
