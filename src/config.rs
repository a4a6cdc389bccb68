//! One typed configuration: clap flags, each with an `ASSETD_*` environment twin.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use url::Url;

/// Attempts of a job before it is marked failed, unless configured.
pub const DEFAULT_JOB_MAX_ATTEMPTS: u32 = 3;

#[derive(Debug, Parser)]
#[command(
    name = "assetd",
    version,
    about = "Self-hosted media asset server speaking the TwelveLabs v1.3 Assets API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeConfig>),
    /// Run jobs only: `serve --no-api` (for worker nodes of a cluster).
    Worker(Box<ServeConfig>),
    /// Manage API keys (works while the server runs on the same data dir).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Look at and retry background jobs (works while the server runs on the same data dir).
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Manage an account's webhook endpoints (works while the server runs on the same data dir).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Check that the rows and the stored files agree; `--repair` makes them
    /// agree. Safe while servers run: what changed within the hour is left alone.
    Fsck {
        /// Fix what can be fixed (see the README).
        #[arg(long)]
        repair: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Create the database if needed, apply migrations, and exit.
    Migrate(DataDir),
    /// Print the OpenAPI document (YAML) of every route this server can serve;
    /// `openapi.yaml` in the repository is its output.
    Openapi,
}

/// Where assetd keeps its data: the data directory (every stored file, or
/// with `--storage s3` this node's working copies of the bucket's; and the
/// SQLite database unless `--database-url` names another).
#[derive(Debug, Clone, Args)]
pub struct DataDir {
    /// Holds every stored file, and the SQLite database by default.
    #[arg(long = "data-dir", env = "ASSETD_DATA_DIR", default_value = "./data")]
    pub path: PathBuf,

    /// The database: `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/NAME`
    /// (created if missing). Default: the SQLite file `assetd.db` in the data dir.
    #[arg(
        long = "database-url",
        env = "ASSETD_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Where stored files live for good: `local` (the data dir) or `s3` (a
    /// bucket; the data dir then holds this node's working copies).
    #[arg(long, env = "ASSETD_STORAGE", default_value = "local")]
    pub storage: StorageKind,

    /// The bucket, with `--storage s3`. Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    #[arg(long, env = "ASSETD_S3_BUCKET", required_if_eq("storage", "s3"))]
    pub s3_bucket: Option<String>,

    /// Any S3-compatible server, e.g. `http://127.0.0.1:3900` (plain http is allowed); default AWS.
    #[arg(long, env = "ASSETD_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    #[arg(long, env = "ASSETD_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    /// Every object key starts with this, e.g. `assetd/`.
    #[arg(long, env = "ASSETD_S3_PREFIX", default_value = "")]
    pub s3_prefix: String,

    /// Path-style URLs (`host/bucket/key`), for servers without virtual-host addressing.
    #[arg(long, env = "ASSETD_S3_FORCE_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub s3_force_path_style: bool,

    /// With `--storage s3`: where this node keeps its working copies of stored
    /// files and its uploads in progress (a local disk of its own); default:
    /// the data dir.
    #[arg(long, env = "ASSETD_SCRATCH_DIR")]
    pub scratch_dir: Option<PathBuf>,

    /// With `--storage s3`: how many bytes of working copies the scratch dir may
    /// hold before the least recently written are removed (the bucket keeps them).
    #[arg(long, env = "ASSETD_SCRATCH_MAX_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub scratch_max_bytes: u64,

    /// With `--storage s3`: how often the working copies are trimmed, in seconds.
    #[arg(long, env = "ASSETD_SCRATCH_TRIM_SECS", default_value_t = 60)]
    pub scratch_trim_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    Local,
    S3,
}

impl DataDir {
    /// Where the files of `Storage` live: the data dir, or with S3 the scratch
    /// dir if one is set. A scratch dir without S3 is refused: there the data
    /// dir holds the only copies.
    pub fn files_root(&self) -> anyhow::Result<&std::path::Path> {
        match (&self.scratch_dir, self.storage) {
            (Some(scratch), StorageKind::S3) => Ok(scratch),
            (Some(_), StorageKind::Local) => anyhow::bail!(
                "--scratch-dir (ASSETD_SCRATCH_DIR) needs --storage s3: with local storage the data dir holds every file"
            ),
            (None, _) => Ok(&self.path),
        }
    }

    /// `--database-url`, else the SQLite file in the data directory.
    pub fn database_url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let file = std::path::absolute(self.path.join("assetd.db"))?;
        let file = Url::from_file_path(&file)
            .map_err(|()| anyhow::anyhow!("{} is not a usable path", file.display()))?;
        // The file URL's path is percent-encoded, as sqlx reads it.
        Ok(format!("sqlite://{}", file.path()))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    #[command(flatten)]
    pub data_dir: DataDir,

    /// Address to listen on; port 0 picks a free port (printed at start-up).
    #[arg(long, env = "ASSETD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Serve `GET /metrics` (Prometheus) on this address only, instead of
    /// beside the API: an address operators can keep off the public network.
    #[arg(long, env = "ASSETD_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Serve no API and no media, only `/healthz`: a node that runs jobs (the
    /// `ASSETD_*_WORKERS` settings say which) for the nodes that take requests.
    #[arg(long, env = "ASSETD_NO_API", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub no_api: bool,

    /// Base of the absolute URLs the API hands out (default: from each request's Host).
    #[arg(long, env = "ASSETD_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// Build URLs from `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host` (only behind a proxy that sets them).
    #[arg(long, env = "ASSETD_TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub trust_proxy: bool,

    /// The key that signs media URLs, as 64 hex digits (e.g. `openssl rand -hex 32`).
    /// Default: one kept in the database, made by the first node that starts,
    /// so that every node of a cluster accepts the URLs the others hand out.
    #[arg(long, env = "ASSETD_SIGNING_SECRET", hide_env_values = true)]
    pub signing_secret: Option<String>,

    /// Registers this key for the account `default` at start-up if it is not known yet.
    #[arg(long, env = "ASSETD_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Largest accepted upload or URL download, in bytes (default 4 GiB).
    #[arg(long, env = "ASSETD_MAX_UPLOAD_BYTES", default_value_t = 4 * 1024 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// Files up to this size are probed before the create response (default 200 MiB).
    #[arg(long, env = "ASSETD_SYNC_MAX_BYTES", default_value_t = 200 * 1024 * 1024)]
    pub sync_max_bytes: u64,

    /// Allow `method=url` to fetch from loopback, private, link-local and multicast addresses.
    #[arg(long, env = "ASSETD_ALLOW_PRIVATE_URLS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_urls: bool,

    /// Time limit for one media child process (probe, thumbnail), in seconds.
    #[arg(long, env = "ASSETD_MEDIA_TIMEOUT_SECS", default_value_t = 120)]
    pub media_timeout_secs: u64,

    /// Time limit for making one HLS stream (a transcode of a long video), in seconds.
    #[arg(long, env = "ASSETD_HLS_TIMEOUT_SECS", default_value_t = 4 * 3600)]
    pub hls_timeout_secs: u64,

    /// With `--storage s3`: answer requests for thumbnails and HLS segments
    /// with a redirect (307) to a short-lived presigned URL of the object,
    /// instead of streaming it. Playlists are always served by assetd.
    #[arg(long, env = "ASSETD_MEDIA_REDIRECT", default_value_t = false, action = clap::ArgAction::Set)]
    pub media_redirect: bool,

    /// How long signed media URLs stay valid, in seconds (renewed by every retrieve and list).
    #[arg(long, env = "ASSETD_MEDIA_URL_TTL_SECS", default_value_t = 24 * 3600)]
    pub media_url_ttl_secs: u64,

    /// Media child processes running at once (default: number of cores).
    #[arg(long, env = "ASSETD_MEDIA_CONCURRENCY")]
    pub media_concurrency: Option<usize>,

    /// Uploads (`POST /v1.3/assets`) an account may start per minute; 0 turns the limit off.
    #[arg(long, env = "ASSETD_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,

    /// Uploads an account may start at once before the per-minute rate applies.
    #[arg(long, env = "ASSETD_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,

    /// How long the server remembers which account a presented API key
    /// belongs to, in seconds: a key revoked while it runs stops working
    /// within this; 0 looks every key up on every request.
    #[arg(long, env = "ASSETD_KEY_CACHE_SECS", default_value_t = 10)]
    pub key_cache_secs: u64,

    /// On PostgreSQL: how long a node may answer a repeated read
    /// (`GET /assets/{id}`, a list page) from memory, in seconds. Another
    /// node's change shows as soon as PostgreSQL notifies it (milliseconds),
    /// and within this even if the notice is lost; 0 reads every request
    /// afresh. SQLite reads need no such memory.
    #[arg(long, env = "ASSETD_READ_CACHE_SECS", default_value_t = 5)]
    pub read_cache_secs: u64,

    /// How long webhook events and their delivery records are kept, in days
    /// (pruned at start-up and hourly). Keep it above the day a delivery is
    /// retried for.
    #[arg(long, env = "ASSETD_WEBHOOK_EVENT_DAYS", default_value_t = 7)]
    pub webhook_event_days: u64,

    /// Webhook deliveries running at once on this node (0 leaves them to other nodes).
    #[arg(long, env = "ASSETD_WEBHOOK_WORKERS", default_value_t = 4)]
    pub webhook_workers: usize,

    /// Probes of large files running at once.
    #[arg(long, env = "ASSETD_PROBE_WORKERS", default_value_t = 1)]
    pub probe_workers: usize,

    /// URL downloads running at once in the background.
    #[arg(long, env = "ASSETD_FETCH_WORKERS", default_value_t = 4)]
    pub fetch_workers: usize,

    /// Thumbnail jobs running at once.
    #[arg(long, env = "ASSETD_THUMBNAIL_WORKERS", default_value_t = 1)]
    pub thumbnail_workers: usize,

    /// HLS jobs running at once (each may transcode).
    #[arg(long, env = "ASSETD_HLS_WORKERS", default_value_t = 1)]
    pub hls_workers: usize,

    /// Jobs removing the files of deleted assets (and of expired multipart
    /// upload sessions) running at once.
    #[arg(long, env = "ASSETD_PURGE_WORKERS", default_value_t = 1)]
    pub purge_workers: usize,

    /// Multipart uploads being assembled at once (when a session's last
    /// chunk is reported).
    #[arg(long, env = "ASSETD_ASSEMBLE_WORKERS", default_value_t = 1)]
    pub assemble_workers: usize,

    /// The chunk size of new multipart upload sessions, in bytes: under
    /// common reverse-proxy body limits, and at least 5 MiB (S3's least
    /// part). With S3 a chunk streams on to its part as it arrives.
    #[arg(long, env = "ASSETD_MULTIPART_CHUNK_BYTES", default_value_t = 8 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(5 * 1024 * 1024..=64 * 1024 * 1024))]
    pub multipart_chunk_bytes: u64,

    /// How long a multipart upload session takes chunks and reports, in
    /// seconds; then it expires, its asset fails and its chunks are removed.
    #[arg(long, env = "ASSETD_MULTIPART_SESSION_SECS", default_value_t = 24 * 3600)]
    pub multipart_session_secs: u64,

    /// Attempts of a job before it is marked failed (transient failures only are retried).
    #[arg(long, env = "ASSETD_JOB_MAX_ATTEMPTS", default_value_t = DEFAULT_JOB_MAX_ATTEMPTS)]
    pub job_max_attempts: u32,

    /// Times a job may be interrupted (its process died while it ran) before it
    /// is marked failed; counted apart from its attempts.
    #[arg(long, env = "ASSETD_JOB_MAX_INTERRUPTIONS", default_value_t = 20)]
    pub job_max_interruptions: u32,

    /// A job's lease, in seconds: a job whose worker died is taken up again after it.
    #[arg(long, env = "ASSETD_JOB_LEASE_SECS", default_value_t = 30)]
    pub job_lease_secs: u64,

    /// How often an idle worker looks for due jobs, in seconds (retries whose
    /// backoff ran out; on SQLite, jobs queued by `assetd jobs retry`). On
    /// PostgreSQL a job queued by any node wakes idle workers at once.
    #[arg(long, env = "ASSETD_JOB_POLL_SECS", default_value_t = 2)]
    pub job_poll_secs: u64,

    /// First retry delay of a failed job, in milliseconds (doubling, with jitter, up to 10 min).
    #[arg(long, env = "ASSETD_JOB_RETRY_MS", default_value_t = 5000)]
    pub job_retry_ms: u64,

    /// Time limit for a URL download, in seconds.
    #[arg(long, env = "ASSETD_URL_TIMEOUT_SECS", default_value_t = 3600)]
    pub url_timeout_secs: u64,

    /// How long shutdown waits for in-flight requests, in seconds.
    #[arg(long, env = "ASSETD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,

    /// Web origins whose pages may call the API from a browser (CORS), comma-separated,
    /// e.g. `http://localhost:3000,https://app.example.com`; none by default.
    /// Media URLs are open to every origin regardless: the signature is the permission.
    #[arg(long, env = "ASSETD_CORS_ORIGINS", value_delimiter = ',', value_parser = CorsOrigin::parse)]
    pub cors_origins: Vec<CorsOrigin>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "ASSETD_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A web origin as browsers send it in `Origin`: `scheme://host[:port]`, http or https.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin(String);

impl CorsOrigin {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = |why: &str| {
            format!("`{raw}` is not an origin ({why}); expected scheme://host[:port], e.g. https://app.example.com")
        };
        let url = Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("only http and https"));
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(invalid("no user, path, query or fragment"));
        }
        // Lower-cased host, default port dropped: the form the browser sends.
        Ok(Self(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ServeConfig {
    pub fn data_path(&self) -> &Path {
        &self.data_dir.path
    }

    pub fn media_timeout(&self) -> Duration {
        Duration::from_secs(self.media_timeout_secs)
    }

    pub fn hls_timeout(&self) -> Duration {
        Duration::from_secs(self.hls_timeout_secs)
    }

    pub fn media_url_ttl(&self) -> Duration {
        Duration::from_secs(self.media_url_ttl_secs)
    }

    pub fn job_poll_interval(&self) -> Duration {
        Duration::from_secs(self.job_poll_secs.max(1))
    }

    pub fn job_lease(&self) -> Duration {
        Duration::from_secs(self.job_lease_secs.max(1))
    }

    pub fn retry_policy(&self) -> assetd_queue::RetryPolicy {
        assetd_queue::RetryPolicy {
            min_delay: Duration::from_millis(self.job_retry_ms),
            max_delay: Duration::from_secs(600),
        }
    }

    pub fn url_timeout(&self) -> Duration {
        Duration::from_secs(self.url_timeout_secs)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn media_concurrency(&self) -> usize {
        self.media_concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
            .max(1)
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for an account (created if new); prints the key alone on one line.
    Create {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List keys: id, account, prefix, created, revoked.
    List {
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Revoke a key by its id (from `keys list`) or by the key itself.
    Revoke {
        key: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Add an endpoint; prints its id, then its signing secret (shown only now).
    Add {
        #[arg(long)]
        account: String,
        #[arg(long)]
        url: String,
        /// Event types, comma-separated; all when not given.
        #[arg(long, value_delimiter = ',')]
        events: Option<Vec<String>>,
        /// Allow an endpoint on a loopback, private, link-local or multicast address.
        #[arg(long, env = "ASSETD_ALLOW_PRIVATE_URLS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
        allow_private_urls: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List an account's endpoints: id, URL, events, created.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Remove an endpoint by its id.
    Remove {
        id: String,
        #[arg(long)]
        account: String,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// Queue failed jobs again, with fresh attempts; their assets go back to
    /// `processing` (or their steps to `pending`).
    Retry {
        /// The failed jobs of this asset.
        #[arg(
            long,
            conflicts_with = "all_failed",
            required_unless_present = "all_failed"
        )]
        asset: Option<String>,
        /// Every failed job.
        #[arg(long)]
        all_failed: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// List jobs that are not done: id, kind, state, attempts, interruptions, asset, last error.
    List {
        #[command(flatten)]
        data_dir: DataDir,
    },
}

/// The command line of `assetd-media`, the media child the server starts for
/// each piece of media work; it prints one JSON reply on stdout.
#[derive(Debug, Parser)]
#[command(name = "assetd-media", version)]
pub struct MediaChildArgs {
    #[command(subcommand)]
    pub task: MediaTask,
}

#[derive(Debug, Subcommand)]
pub enum MediaTask {
    /// Probe a file and print `{"ok": Probe}` or `{"err": MediaError}`.
    Probe { path: PathBuf },
    /// Write a JPEG thumbnail of INPUT to OUTPUT.
    Thumbnail { input: PathBuf, output: PathBuf },
    /// Write an HLS stream of INPUT into the existing directory OUT_DIR.
    Hls { input: PathBuf, out_dir: PathBuf },
}

#[cfg(test)]
mod tests {
    use super::CorsOrigin;

    #[test]
    fn cors_origins_are_scheme_host_and_port_only() {
        for (raw, origin) in [
            ("http://localhost:3000", "http://localhost:3000"),
            ("https://App.Example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(CorsOrigin::parse(raw).unwrap().as_str(), origin, "{raw}");
        }
        for bad in [
            "*",
            "",
            "localhost:3000",
            "app.example.com",
            "ftp://example.com",
            "https://example.com/app",
            "https://example.com?x=1",
            "https://user@example.com",
            "null",
        ] {
            let message = CorsOrigin::parse(bad).unwrap_err();
            assert!(message.contains("is not an origin"), "{bad}: {message}");
        }
    }
}
