//! Starts the real `assetd` binary on an ephemeral port with a fresh data dir,
//! and makes the media fixtures with the ffmpeg command line. When
//! `ASSETD_TEST_POSTGRES_URL` names a PostgreSQL server (the README's test
//! command starts one and runs this suite a second time with it), each server
//! keeps its rows in a database of its own there instead of SQLite.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_assetd");
/// The media child the server runs, beside it.
pub const MEDIA_BIN: &str = env!("CARGO_BIN_EXE_assetd-media");

pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub key: String,
    pub client: reqwest::Client,
    /// Declared before the data dir, so that a dropped app is killed before
    /// its files are removed (fields drop in order).
    child: Option<Child>,
    pub data_dir: TempDir,
    /// What the server printed on stdout before `listening on`.
    pub said: Vec<String>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts a server; `env` adds or overrides `ASSETD_*` settings.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let key = format!("tlk_test_{}", uuid::Uuid::new_v4().simple());
        Self::start(data_dir, key, env).await
    }

    /// Starts a server from a copy of the binary at `bin`.
    pub async fn spawn_binary(bin: &Path) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let key = format!("tlk_test_{}", uuid::Uuid::new_v4().simple());
        Self::start_binary(bin, "serve", data_dir, key, &[]).await
    }

    /// Starts `assetd worker`: a node that serves no API, only /healthz.
    pub async fn spawn_worker(env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp data dir");
        let key = format!("tlk_test_{}", uuid::Uuid::new_v4().simple());
        Self::start_binary(Path::new(BIN), "worker", data_dir, key, env).await
    }

    async fn start(data_dir: TempDir, key: String, env: &[(&str, &str)]) -> Self {
        Self::start_binary(Path::new(BIN), "serve", data_dir, key, env).await
    }

    async fn start_binary(
        bin: &Path,
        subcommand: &str,
        data_dir: TempDir,
        key: String,
        env: &[(&str, &str)],
    ) -> Self {
        create_bucket(data_dir.path()).await;
        let mut command = Command::new(bin);
        command
            .arg(subcommand)
            .env("ASSETD_BIND", "127.0.0.1:0")
            .envs(data_env(data_dir.path()))
            .env("ASSETD_API_KEY", &key)
            .env("ASSETD_ALLOW_PRIVATE_URLS", "true")
            .env("ASSETD_SHUTDOWN_TIMEOUT_SECS", "5")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start assetd");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // The lines before `listening on` (such as `metrics on ...`) are kept.
        let mut said = Vec::new();
        let base = loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("assetd did not start within 30 s")
                .expect("read stdout")
                .expect("assetd exited before listening");
            match line.strip_prefix("listening on ") {
                // Bound to all interfaces, the server is called on loopback.
                Some(base) => break base.replace("0.0.0.0", "127.0.0.1"),
                None => said.push(line),
            }
        };
        Self {
            base,
            said,
            key,
            client: reqwest::Client::new(),
            data_dir,
            child: Some(child),
        }
    }

    /// Where this server keeps its rows.
    pub fn database_url(&self) -> String {
        database_url(self.data_dir.path())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1.3{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().and_then(Child::id).expect("running")
    }

    /// SIGTERM, then wait; returns the exit code.
    pub async fn stop(mut self) -> (Option<i32>, TempDir, String) {
        let mut child = self.child.take().expect("running");
        signal(child.id().expect("pid"), "TERM");
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("assetd did not stop within 20 s after SIGTERM")
            .expect("wait");
        (status.code(), self.data_dir, self.key)
    }

    /// Waits for a process that was sent SIGKILL; returns its exit code (None).
    pub async fn stop_after_kill(mut self) -> (Option<i32>, TempDir, String) {
        let mut child = self.child.take().expect("running");
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("exit")
            .expect("wait");
        (status.code(), self.data_dir, self.key)
    }

    /// Starts a server again on a data dir a stopped one left.
    pub async fn restart(data_dir: TempDir, key: String, env: &[(&str, &str)]) -> Self {
        Self::start(data_dir, key, env).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path).await
    }

    async fn send(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let request = self.client.request(method, self.url(path));
        json_of(request.header("x-api-key", &self.key).send().await.unwrap()).await
    }

    /// POST /v1.3/assets with the given form.
    pub async fn create(&self, form: Form) -> (u16, Value) {
        self.create_as(&self.key, form).await
    }

    pub async fn create_as(&self, key: &str, form: Form) -> (u16, Value) {
        let response = self
            .client
            .post(self.url("/assets"))
            .header("x-api-key", key)
            .multipart(form)
            .send()
            .await
            .unwrap();
        json_of(response).await
    }

    /// Uploads a fixture file with `method=direct`.
    pub async fn upload(&self, path: &Path) -> (u16, Value) {
        self.create(direct_form(path)).await
    }

    /// A key for another account, made with the `keys create` subcommand while the server runs.
    pub async fn key_for(&self, account: &str) -> String {
        let out = Command::new(BIN)
            .args(["keys", "create", "--account", account])
            .envs(data_env(self.data_dir.path()))
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "keys create prints the key alone: {stdout:?}"
        );
        lines[0].to_string()
    }

    /// What is in `DATA/tmp/`: must be empty whenever no upload is in flight.
    pub fn tmp_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data_dir.path().join("tmp"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default()
    }

    /// Every asset folder on disk.
    pub fn asset_folders(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let Ok(shards) = std::fs::read_dir(self.data_dir.path().join("assets")) else {
            return found;
        };
        for shard in shards {
            for asset in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                found.push(asset.unwrap().path());
            }
        }
        found
    }

    /// How many assets the test key's account has.
    pub async fn asset_count(&self) -> u64 {
        let (status, body) = self.get("/assets?page_limit=1").await;
        assert_eq!(status, 200, "{body}");
        body["page_info"]["total_results"].as_u64().unwrap()
    }

    /// Asserts that a rejected request left nothing behind.
    pub async fn assert_nothing_left(&self, assets_before: u64) {
        // The handler's drop guards run as the response is sent; give them a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.tmp_files().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            self.tmp_files().is_empty(),
            "temporary files left: {:?}",
            self.tmp_files()
        );
        assert_eq!(
            self.asset_count().await,
            assets_before,
            "a row was left behind"
        );
        // Only the test key's account uploads in the servers these checks run on.
        assert_eq!(
            self.asset_folders().len() as u64,
            assets_before,
            "an asset folder was left behind"
        );
        if let Some(server) = s3_server() {
            // An abandoned upload's object and multipart upload go in the background.
            let bucket = bucket_name(self.data_dir.path());
            let left = || async {
                let mut assets: Vec<String> = crate::test_s3::keys_in(&server, &bucket)
                    .await
                    .iter()
                    .filter_map(|key| key.strip_prefix("assets/")?.split('/').next())
                    .map(str::to_string)
                    .collect();
                assets.dedup();
                let uploads = crate::test_s3::unfinished_uploads_in(&server, &bucket).await;
                (assets.len() as u64, uploads)
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while left().await != (assets_before, 0) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                left().await,
                (assets_before, 0),
                "(assets with objects, unfinished multipart uploads) in the bucket"
            );
        }
    }
}

/// What points an `assetd` command at the data of the server on `data_dir`
/// (as an operator's command run beside the server would be): its data dir,
/// its database, and with `ASSETD_TEST_STORAGE=s3` its bucket.
pub fn data_env(data_dir: &Path) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("ASSETD_DATA_DIR", data_dir.display().to_string()),
        ("ASSETD_DATABASE_URL", database_url(data_dir)),
    ];
    if let Some(server) = s3_server() {
        env.extend([
            ("ASSETD_STORAGE", "s3".to_string()),
            ("ASSETD_S3_BUCKET", bucket_name(data_dir)),
            ("ASSETD_S3_ENDPOINT", server),
            ("ASSETD_S3_FORCE_PATH_STYLE", "true".to_string()),
            ("AWS_ACCESS_KEY_ID", crate::test_s3::credential().key_id),
            (
                "AWS_SECRET_ACCESS_KEY",
                crate::test_s3::credential().secret_key,
            ),
        ]);
    }
    env
}

/// The S3-compatible server this run stores files in, when it runs on S3
/// (`ASSETD_TEST_STORAGE=s3` and `ASSETD_TEST_S3_URL`).
pub fn s3_server() -> Option<String> {
    if std::env::var("ASSETD_TEST_STORAGE").as_deref() != Ok("s3") {
        return None;
    }
    Some(
        std::env::var("ASSETD_TEST_S3_URL")
            .expect("ASSETD_TEST_STORAGE=s3 needs ASSETD_TEST_S3_URL"),
    )
}

/// The bucket of the server on `data_dir`, named after it like its database.
pub fn bucket_name(data_dir: &Path) -> String {
    let name: String = data_dir
        .file_name()
        .expect("a temp dir has a name")
        .to_string_lossy()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("it-{name}")
}

/// Creates the bucket of the server on `data_dir` on the test server (an
/// operator creates theirs; assetd only checks that it can write to it).
pub async fn create_bucket(data_dir: &Path) {
    let Some(server) = s3_server() else { return };
    crate::test_s3::create_bucket(&server, &bucket_name(data_dir)).await;
}

/// An asset's folder under a data (or scratch) dir: `assets/<shard>/<id>`,
/// the shard being the id's last two hex digits.
pub fn asset_folder(root: &Path, id: &str) -> PathBuf {
    root.join("assets").join(&id[30..]).join(id)
}

/// Loses a stored file of an asset as a disk or a bucket might: the file in
/// the data dir, and on S3 its object (which the data dir only caches).
pub async fn lose_stored_file(data_dir: &Path, id: &str, relative: &str) {
    let local = asset_folder(data_dir, id).join(relative);
    std::fs::remove_file(&local).unwrap();
    if let Some(server) = s3_server() {
        let bucket = bucket_name(data_dir);
        let url = format!("{server}/{bucket}/assets/{id}/{relative}");
        let status = crate::test_s3::signed(reqwest::Method::DELETE, &url, b"")
            .await
            .status();
        assert!(status.is_success(), "deleting an object: {status}");
    }
}

/// Puts a small object into the bucket of the server on `data_dir` (nothing off S3).
pub async fn put_object(data_dir: &Path, key: &str) {
    let Some(server) = s3_server() else { return };
    let url = format!("{server}/{}/{key}", bucket_name(data_dir));
    let status = crate::test_s3::signed(reqwest::Method::PUT, &url, b"bytes of no asset")
        .await
        .status();
    assert!(status.is_success(), "putting an object: {status}");
}

/// Every key in the bucket of the server on `data_dir` (empty off S3).
pub async fn bucket_keys(data_dir: &Path) -> Vec<String> {
    let Some(server) = s3_server() else {
        return Vec::new();
    };
    crate::test_s3::keys_in(&server, &bucket_name(data_dir)).await
}

/// Starts `assetd serve` on a fresh data dir (with its bucket, on S3) with
/// `env` added, expects it to refuse to start, and returns what it said.
pub async fn refused_start(env: &[(&str, &str)]) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    create_bucket(data_dir.path()).await;
    let run = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .envs(data_env(data_dir.path()))
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("assetd should refuse to start, not run")
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// What makes a node take requests and run no background job.
pub const NO_WORKERS: [(&str, &str); 6] = [
    ("ASSETD_PROBE_WORKERS", "0"),
    ("ASSETD_FETCH_WORKERS", "0"),
    ("ASSETD_THUMBNAIL_WORKERS", "0"),
    ("ASSETD_HLS_WORKERS", "0"),
    ("ASSETD_PURGE_WORKERS", "0"),
    ("ASSETD_ASSEMBLE_WORKERS", "0"),
];

/// Whether this run keeps the servers' rows on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var_os("ASSETD_TEST_POSTGRES_URL").is_some()
}

/// For tests of several nodes: true (after saying why) when they cannot run,
/// because SQLite is one server's database.
pub fn skip_without_postgres() -> bool {
    if on_postgres() {
        return false;
    }
    println!("skipped: several nodes share a PostgreSQL database (set ASSETD_TEST_POSTGRES_URL)");
    true
}

/// Sets a file's or folder's modification time to two hours ago: what a
/// crash's leftover looks like to a sweep that spares recent files.
pub fn age_by_two_hours(path: &Path) {
    let status = std::process::Command::new("touch")
        .args(["-d", "2 hours ago"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// The database of the server on `data_dir`: a database named after the data
/// dir on the test PostgreSQL server if there is one (so that a restart on the
/// same data dir finds it), else the SQLite file in the data dir.
pub fn database_url(data_dir: &Path) -> String {
    match std::env::var("ASSETD_TEST_POSTGRES_URL") {
        Ok(server) => {
            let name: String = data_dir
                .file_name()
                .expect("a temp dir has a name")
                .to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            format!("{}/it{name}", server.trim_end_matches('/'))
        }
        Err(_) => format!("sqlite://{}", data_dir.join("assetd.db").display()),
    }
}

/// Uploads an image with a thumbnail and returns its id once the thumbnail is ready.
pub async fn asset_with_thumbnail(app: &TestApp) -> String {
    let form = direct_form(&fixtures().path("frame.png")).text("enable_thumbnail", "true");
    let (status, created) = app.create(form).await;
    assert_eq!(status, 201, "{created}");
    let id = created["_id"].as_str().unwrap().to_string();
    let asset = wait_until_settled(app, &id).await;
    assert_eq!(asset["thumbnail"]["status"], "ready", "{asset}");
    id
}

/// The thumbnail URL of a retrieve sent with these extra headers.
pub async fn thumbnail_url(app: &TestApp, id: &str, headers: &[(&str, &str)]) -> String {
    let mut request = app
        .client
        .get(app.url(&format!("/assets/{id}")))
        .header("x-api-key", &app.key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
    body["thumbnail"]["representative_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no URL: {body}"))
        .to_string()
}

/// Polls an asset until it and its requested steps are finished.
pub async fn wait_until_settled(app: &TestApp, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = app.get(&format!("/assets/{id}")).await;
        assert_eq!(status, 200, "{body}");
        let busy = |step: &str| {
            matches!(
                body[step]["status"].as_str(),
                Some("pending" | "processing")
            )
        };
        if body["status"] != "processing" && !busy("hls") && !busy("thumbnail") {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never settled: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The asset's thumbnail, fetched through its signed URL (no key) and decoded.
pub async fn fetch_thumbnail(asset: &Value) -> image::DynamicImage {
    let url = asset["thumbnail"]["representative_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no thumbnail URL: {asset}"));
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    image::load_from_memory(&response.bytes().await.unwrap()).expect("a decodable thumbnail")
}

/// What `ffprobe` says of `entries` (e.g. `format=duration`) at a path or URL, as CSV.
pub fn ffprobe(url: &str, entries: &str) -> String {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            entries,
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// How long the media at `url` (an HLS stream over HTTP) plays, in seconds.
pub fn played_seconds(url: &str) -> f64 {
    ffprobe(url, "format=duration").parse().unwrap()
}

/// A multipart upload over a raw connection, stopped before its last `hold_back`
/// bytes (keep at least the closing boundary back, or the form is complete),
/// with a Content-Length of `declared` (or the real length). Returns once the
/// server is streaming the file into tmp/, with what was held back.
pub async fn begin_raw_upload(
    app: &TestApp,
    file: &[u8],
    declared: Option<usize>,
    hold_back: usize,
) -> (tokio::net::TcpStream, Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    let addr = app.base.strip_prefix("http://").unwrap().to_string();
    let boundary = "RawUploadBoundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\ndirect\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"raw.mp4\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let head = format!(
        "POST /v1.3/assets HTTP/1.1\r\nHost: {addr}\r\nx-api-key: {}\r\nConnection: close\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        app.key,
        declared.unwrap_or(body.len())
    );
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let rest = body.split_off(body.len() - hold_back);
    stream.write_all(&body).await.unwrap();
    stream.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while app.tmp_files().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        app.tmp_files().len(),
        1,
        "the upload should be streaming to tmp/"
    );
    (stream, rest)
}

pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}

pub async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

pub fn file_part(path: &Path) -> Part {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    Part::bytes(std::fs::read(path).unwrap())
        .file_name(name)
        .mime_str("application/octet-stream")
        .unwrap()
}

/// The Python SDK's part order: method first, file last.
pub fn direct_form(path: &Path) -> Form {
    Form::new()
        .text("method", "direct")
        .part("file", file_part(path))
}

/// Asserts the documented error shape and returns the message.
#[track_caller]
pub fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) -> String {
    assert_eq!(status, want_status, "body: {body}");
    assert_eq!(body["code"], want_code, "body: {body}");
    let message = body["message"].as_str().expect("message").to_string();
    assert!(!message.is_empty());
    message
}

// ---------------------------------------------------------------- fixtures

pub struct Fixtures {
    pub dir: PathBuf,
}

impl Fixtures {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Media made once per test run with the ffmpeg command line, in cargo's
/// per-target temporary directory (kept between runs, never committed).
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixtures-v3");
        std::fs::create_dir_all(&dir).unwrap();
        let av = "-f lavfi -i testsrc=duration=2:size=320x240:rate=25 -f lavfi -i sine=frequency=440:duration=2";
        // (file, ffmpeg arguments before the output; `{dir}` is the fixture folder)
        let recipes: &[(&str, String)] = &[
            ("clip.mp4", format!("{av} -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest -f mp4")),
            ("clip.webm", format!("{av} -c:v libvpx-vp9 -deadline realtime -c:a libopus -shortest -f webm")),
            ("hevc.mp4", format!("{av} -c:v libx265 -x265-params log-level=none -tag:v hvc1 -c:a aac -shortest -f mp4")),
            // 10-bit HEVC tagged PQ (HDR10-style): must come out tone-mapped to 8-bit SDR.
            ("hdr.mp4", "-f lavfi -i testsrc2=duration=2:size=320x240:rate=25 -c:v libx265 -pix_fmt yuv420p10le -x265-params log-level=none:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc -tag:v hvc1 -f mp4".into()),
            ("one-frame.mp4", "-f lavfi -i testsrc=size=320x240:rate=25 -frames:v 1 -c:v libx264 -pix_fmt yuv420p -f mp4".into()),
            ("silent.mp4", "-f lavfi -i testsrc=duration=2:size=320x240:rate=25 -c:v libx264 -pix_fmt yuv420p -f mp4".into()),
            ("tone.mp3", "-f lavfi -i sine=frequency=440:duration=2 -c:a libmp3lame -f mp3".into()),
            ("tone.wav", "-f lavfi -i sine=frequency=440:duration=2 -c:a pcm_s16le -f wav".into()),
            ("frame.png", "-f lavfi -i testsrc=size=64x48 -frames:v 1 -f image2 -c:v png".into()),
            ("frame.jpg", "-f lavfi -i testsrc=size=64x48 -frames:v 1 -f image2 -c:v mjpeg".into()),
            ("alpha.png", "-f lavfi -i color=red@0.5:size=64x48,format=rgba -frames:v 1 -f image2 -c:v png".into()),
            ("anim.gif", "-f lavfi -i testsrc=size=64x48:rate=5:duration=1 -f gif".into()),
            // A phone-style rotated video: the display matrix says 90 degrees.
            ("rotated.mp4", "-i {dir}/clip.mp4 -c copy -metadata:s:v:0 rotate=90 -f mp4".into()),
            ("cover.mp3", "-i {dir}/tone.mp3 -i {dir}/frame.png -map 0 -map 1 -c:a copy -c:v mjpeg -disposition:v attached_pic -f mp3".into()),
            // 18 s whose frames are 1/30 s apart for the first second, then 2/30 s (285 frames
            // that a nominal 30 fps would make 9.5 s), with libx264's B-frames: copied as it is.
            ("vfr.mp4", "-f lavfi -i testsrc2=size=160x120:rate=30:duration=9.5 -f lavfi -i sine=frequency=440:duration=18 -vf setpts='if(lt(N,30),N,30+2*(N-30))/30/TB' -fps_mode passthrough -c:v libx264 -pix_fmt yuv420p -g 30 -c:a aac -f mp4".into()),
            // Ten seconds of 1280x720 MPEG-4: its HLS transcode takes seconds, long
            // enough to be caught half-way (time limits, crashes).
            ("slow.avi", "-f lavfi -i testsrc2=duration=10:size=1280x720:rate=30 -c:v mpeg4 -q:v 5 -f avi".into()),
        ];
        for (name, args) in recipes {
            let out = dir.join(name);
            if out.exists() {
                continue;
            }
            let partial = dir.join(format!("partial-{name}"));
            let args = args.replace("{dir}", dir.to_str().unwrap());
            let status = std::process::Command::new("ffmpeg")
                .args(["-y", "-hide_banner", "-loglevel", "error"])
                .args(args.split_whitespace())
                .arg(&partial)
                .status()
                .expect("ffmpeg must be installed");
            assert!(status.success(), "ffmpeg failed to make {name}");
            std::fs::rename(&partial, &out).unwrap();
        }
        let mp4 = std::fs::read(dir.join("clip.mp4")).unwrap();
        // ffmpeg writes the index (moov) last: the first half of the file has none.
        std::fs::write(dir.join("truncated.mp4"), &mp4[..mp4.len() / 2]).unwrap();
        // A valid MP4 start, then noise where the media data should be.
        let mut garbage = mp4[..1024].to_vec();
        garbage.extend((0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
        std::fs::write(dir.join("garbage.mp4"), garbage).unwrap();
        std::fs::write(dir.join("huge.png"), png_claiming(20_000, 20_000, &std::fs::read(dir.join("frame.png")).unwrap())).unwrap();
        std::fs::write(dir.join("notes.mp4"), "These are my notes, not a video.\n".repeat(50)).unwrap();
        std::fs::write(dir.join("empty.mp4"), b"").unwrap();
        Fixtures { dir }
    })
}

/// A copy of a PNG whose header claims another size (a decompression bomb's
/// header: tiny on disk, enormous when decoded).
fn png_claiming(width: u32, height: u32, png: &[u8]) -> Vec<u8> {
    let mut out = png.to_vec();
    // Signature (8), length (4), "IHDR" (4), then width and height; the CRC covers type and data.
    out[16..20].copy_from_slice(&width.to_be_bytes());
    out[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Watches this machine's media children (`assetd-media TASK INPUT ...`) while
/// a test runs, by sampling `/proc` every few milliseconds: which ran for
/// which asset, and how many at once. Children die with their node (a node
/// killed with SIGKILL takes its child along), so two children of one task and
/// asset alive together would be one job running twice at once.
pub struct MediaChildWatch {
    stop: tokio_util::sync::CancellationToken,
    seen: std::sync::Arc<std::sync::Mutex<ChildRunsByTask>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// What a [`MediaChildWatch`] saw, by (task, asset id).
pub type ChildRunsByTask = std::collections::HashMap<(String, String), ChildRuns>;

impl Drop for MediaChildWatch {
    /// A test that fails before `stop` must not leave the sampling thread
    /// running: the runtime would wait for it forever.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// What the watch saw of one (task, asset).
#[derive(Debug, Default, Clone)]
pub struct ChildRuns {
    /// The most children alive at once.
    pub most_at_once: usize,
    /// Every child seen (process ids).
    pub pids: std::collections::BTreeSet<u32>,
}

impl MediaChildWatch {
    pub fn start() -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let stopped = stop.clone();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(ChildRunsByTask::new()));
        let recorded = seen.clone();
        let task = tokio::task::spawn_blocking(move || {
            while !stopped.is_cancelled() {
                let mut now: std::collections::HashMap<(String, String), usize> =
                    Default::default();
                let children = media_children();
                let mut seen = recorded.lock().unwrap();
                for (pid, task, asset) in children {
                    *now.entry((task.clone(), asset.clone())).or_default() += 1;
                    seen.entry((task, asset)).or_default().pids.insert(pid);
                }
                for (key, count) in now {
                    let runs = seen.entry(key).or_default();
                    runs.most_at_once = runs.most_at_once.max(count);
                }
                drop(seen);
                std::thread::sleep(Duration::from_millis(3));
            }
        });
        Self {
            stop,
            seen,
            task: Some(task),
        }
    }

    /// The children of `task` for `asset` seen so far.
    pub fn runs_of(&self, task: &str, asset: &str) -> ChildRuns {
        let seen = self.seen.lock().unwrap();
        seen.get(&(task.to_string(), asset.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Stops watching; what was seen.
    pub async fn stop(mut self) -> ChildRunsByTask {
        self.stop.cancel();
        self.task.take().unwrap().await.unwrap();
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// The media children alive now: (pid, task, asset id of the input).
fn media_children() -> Vec<(u32, String, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // A zombie's command line reads empty: it runs nothing any more.
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let [_, task, input, ..] = args.as_slice() else {
            continue;
        };
        if !matches!(task.as_str(), "probe" | "thumbnail" | "hls") {
            continue;
        }
        // INPUT is DATA_DIR/assets/SHARD/ID/original.
        let mut parts = input.rsplit('/');
        if parts.next() != Some("original") {
            continue;
        }
        if let Some(asset) = parts.next().filter(|id| id.len() == 32) {
            found.push((pid, task.clone(), asset.to_string()));
        }
    }
    found
}

/// Short job leases, so that a killed server's jobs are taken up again quickly.
pub const SHORT_LEASE: (&str, &str) = ("ASSETD_JOB_LEASE_SECS", "2");

/// Kills the server with SIGKILL and starts it again on the same data.
pub async fn kill_and_restart(app: TestApp, env: &[(&str, &str)]) -> TestApp {
    signal(app.pid(), "KILL");
    let (code, data_dir, key) = app.stop_after_kill().await;
    assert_eq!(code, None, "killed by a signal");
    TestApp::restart(data_dir, key, env).await
}

/// Starts a multipart session for `file`, small enough to be one chunk
/// (`clip.mp4`); the session's JSON.
pub async fn one_chunk_session(app: &TestApp, file: &[u8]) -> Value {
    let (status, session) = app
        .send_json(
            reqwest::Method::POST,
            "/assets/multipart-uploads",
            serde_json::json!({"filename": "clip.mp4", "type": "video", "total_size": file.len()}),
        )
        .await;
    assert_eq!(status, 201, "{session}");
    session
}

/// PUTs `file` as the one chunk of `session`, to its signed URL; its ETag, unquoted.
pub async fn put_the_chunk(session: &Value, file: &[u8]) -> String {
    let url = session["upload_urls"][0]["url"].as_str().unwrap();
    let put = reqwest::Client::new()
        .put(url)
        .body(file.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    put.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string()
}

/// `env` plus what points a node at the first node's database and files: its
/// bucket on S3 (each node keeps its own data dir, as on separate machines),
/// else its data dir.
pub fn joining<'a>(
    first: &'a TestApp,
    url: &'a str,
    bucket: &'a str,
    env: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("ASSETD_DATABASE_URL", url)];
    if s3_server().is_some() {
        all.push(("ASSETD_S3_BUCKET", bucket));
    } else {
        all.push(("ASSETD_DATA_DIR", first.data_dir.path().to_str().unwrap()));
    }
    all.extend_from_slice(env);
    all
}
