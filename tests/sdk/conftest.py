"""Fixtures for the TwelveLabs Python SDK compatibility suite.

The suite drives a real `assetd serve` process through the official
`twelvelabs` SDK (and raw httpx where the SDK can't send a case).

Environment:
  ASSETD_BIN                path of the server binary (default: <repo>/target/release/assetd)
  ASSETD_TEST_STORAGE=s3    with ASSETD_TEST_S3_URL (an S3-compatible server): each server
                            stores its files in a bucket of its own there
  ASSETD_TEST_POSTGRES_URL  a PostgreSQL server (postgres://USER@HOST:PORT): each server
                            started here keeps its rows in a fresh database there
                            instead of SQLite (the README's test command runs the
                            suite once each way)
  TEST_LOG=1                let the server's stderr through instead of writing it to a log file
"""

from __future__ import annotations

import http.server
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from twelvelabs import TwelveLabs

from _helpers import MEDIA_DURATION

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / "target" / "release" / "assetd"

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# Servers started by this suite and still running; their log tails are
# attached to the report of any failing test.
_LIVE_SERVERS: List["AssetdServer"] = []


# --------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------


def assetd_bin() -> Path:
    path = Path(os.environ.get("ASSETD_BIN") or DEFAULT_BIN)
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"assetd binary not found or not executable at {path}; "
            "build it with `cargo build --release` or set ASSETD_BIN",
            pytrace=False,
        )
    return path


def signed_s3_request(method: str, url: str) -> httpx.Response:
    """A request to the test S3 server, signed as any S3 client signs it (the
    server checks signatures)."""
    request = AWSRequest(method=method, url=url)
    credentials = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
    response = httpx.request(method, request.url, headers=dict(request.headers.items()))
    response.raise_for_status()
    return response


def create_bucket(s3: str, bucket: str) -> None:
    signed_s3_request("PUT", f"{s3}/{bucket}")


class AssetdServer:
    """One `assetd serve` process on 127.0.0.1 with its own data dir."""

    def __init__(self, data_dir: Path, *, allow_private: bool = True, extra_env: Optional[Dict[str, str]] = None):
        self.bin = assetd_bin()
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.api_key = "tlk_" + secrets.token_hex(16)
        self.log_path = data_dir.parent / (data_dir.name + "-stderr.log")
        self.port: Optional[int] = None
        self.proc: Optional[subprocess.Popen] = None
        self._stdout_lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._stdout_rest: List[str] = []

        env = dict(os.environ)
        postgres = env.get("ASSETD_TEST_POSTGRES_URL")
        s3 = env.get("ASSETD_TEST_S3_URL") if env.get("ASSETD_TEST_STORAGE") == "s3" else None
        for k in list(env):
            if k.startswith("ASSETD_"):
                del env[k]
        env["ASSETD_API_KEY"] = self.api_key
        if postgres:
            # assetd creates the database on first start, as it creates its SQLite file.
            env["ASSETD_DATABASE_URL"] = f"{postgres.rstrip('/')}/sdk_{uuid.uuid4().hex}"
        if s3:
            # A bucket of its own on the test server, whose credentials are
            # the AWS variables the test command set (and assetd reads).
            bucket = f"sdk-{uuid.uuid4().hex}"
            create_bucket(s3, bucket)
            env.update(
                ASSETD_STORAGE="s3",
                ASSETD_S3_BUCKET=bucket,
                ASSETD_S3_ENDPOINT=s3,
                ASSETD_S3_FORCE_PATH_STYLE="true",
            )
        if allow_private:
            env["ASSETD_ALLOW_PRIVATE_URLS"] = "true"
        # A revoked key stops working within this (the server remembers keys).
        env["ASSETD_KEY_CACHE_SECS"] = "1"
        env.update(extra_env or {})
        self.env = env

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "AssetdServer":
        show_log = os.environ.get("TEST_LOG") == "1"
        self._log_file = None if show_log else open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.bin), "serve", "--bind", "127.0.0.1:0", "--data-dir", str(self.data_dir)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if show_log else self._log_file,
            text=True,
        )
        threading.Thread(target=self._pump_stdout, daemon=True).start()

        deadline = time.monotonic() + STARTUP_TIMEOUT
        prefix = "listening on http://127.0.0.1:"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abort(f"no '{prefix}PORT' line on stdout within {STARTUP_TIMEOUT:.0f} s")
            try:
                line = self._stdout_lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    self._abort(f"server exited with code {self.proc.returncode} before listening")
                continue
            if line is None:
                self._abort(f"server closed stdout (exit code {self.proc.poll()}) before listening")
            line = line.strip()
            if line.startswith(prefix):
                self.port = int(line[len(prefix):].strip().rstrip("/"))
                break
            self._stdout_rest.append(line)
        _LIVE_SERVERS.append(self)
        return self

    def _pump_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if self.port is None:
                self._stdout_lines.put(line)
            else:
                self._stdout_rest.append(line)
        self._stdout_lines.put(None)

    def _abort(self, why: str) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        pytest.fail(f"assetd failed to start: {why}\n--- stderr ---\n{self.log_tail()}", pytrace=False)

    def stop(self) -> int:
        """SIGTERM, then wait; returns the exit code (kills after the timeout)."""
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                if self._log_file:
                    self._log_file.close()
                pytest.fail(
                    f"assetd did not exit within {STOP_TIMEOUT:.0f} s of SIGTERM\n--- stderr ---\n{self.log_tail()}",
                    pytrace=False,
                )
        if self._log_file:
            self._log_file.close()
        return self.proc.returncode

    def stop_and_check(self) -> None:
        code = self.stop()
        assert code == 0, f"assetd exited with code {code} after SIGTERM\n--- stderr ---\n{self.log_tail()}"

    def log_tail(self, n: int = 6000) -> str:
        if os.environ.get("TEST_LOG") == "1":
            return "(stderr passed through: TEST_LOG=1)"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return re.sub(r"\x1b\[[0-9;]*m", "", text)[-n:]

    # -- helpers -----------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1.3"

    def client(self, api_key: Optional[str] = None) -> TwelveLabs:
        return TwelveLabs(api_key=api_key or self.api_key, base_url=self.base_url)

    def http(self, api_key: Optional[str] = None) -> httpx.Client:
        headers = {} if api_key == "" else {"x-api-key": api_key or self.api_key}
        return httpx.Client(base_url=self.base_url + "/", headers=headers, timeout=60)

    def create_key(self, account: str) -> str:
        out = subprocess.run(
            [str(self.bin), "keys", "create", "--account", account, "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, f"keys create failed ({out.returncode}): {out.stderr}"
        lines = [l.strip() for l in out.stdout.splitlines() if l.strip()]
        assert len(lines) == 1, f"keys create should print the key alone on one line, got {out.stdout!r}"
        return lines[0]

    def revoke_key(self, key: str) -> None:
        out = subprocess.run(
            [str(self.bin), "keys", "revoke", key, "--data-dir", str(self.data_dir)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 0, f"keys revoke failed ({out.returncode}): {out.stderr}"

    def stored_original(self, asset_id: str) -> bytes:
        """The bytes of an asset's original where the server keeps it: its
        bucket on S3, else the data dir."""
        bucket = self.env.get("ASSETD_S3_BUCKET")
        if bucket:
            return signed_s3_request("GET", f"{self.env['ASSETD_S3_ENDPOINT']}/{bucket}/assets/{asset_id}/original").content
        return next(self.data_dir.glob(f"assets/*/{asset_id}/original")).read_bytes()

    def tmp_entries(self) -> List[str]:
        tmp = self.data_dir / "tmp"
        if not tmp.exists():
            return []
        return sorted(p.name for p in tmp.iterdir())

    def wait_tmp_empty(self, timeout: float = 5.0) -> List[str]:
        """Poll until <data-dir>/tmp is empty (or absent); returns what is left."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.tmp_entries()
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for srv in list(_LIVE_SERVERS):
            report.sections.append((f"assetd stderr (port {srv.port}, tail)", srv.log_tail()))


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> AssetdServer:
    """The shared server: private URLs allowed, default limits."""
    srv = AssetdServer(tmp_path_factory.mktemp("assetd") / "data").start()
    yield srv
    srv.stop_and_check()


@pytest.fixture
def start_server(tmp_path_factory):
    """Factory for a private server with its own settings; stopped (and checked) at test end."""
    started: List[AssetdServer] = []

    def _start(*, allow_private: bool = True, **env: str) -> AssetdServer:
        srv = AssetdServer(
            tmp_path_factory.mktemp("assetd-own") / "data",
            allow_private=allow_private,
            extra_env={k: str(v) for k, v in env.items()},
        ).start()
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop_and_check()


@pytest.fixture(scope="session")
def client(server) -> TwelveLabs:
    """SDK client of the `default` account (the key given by ASSETD_API_KEY)."""
    return server.client()


@pytest.fixture(scope="session")
def other_key(server) -> str:
    """Key of a second account, `other`, created while the server runs."""
    return server.create_key("other")


@pytest.fixture(scope="session")
def other_client(server, other_key) -> TwelveLabs:
    return server.client(other_key)


@pytest.fixture
def fresh(server):
    """A new, empty account for one test: (client, key). Lists then only hold this test's assets."""
    key = server.create_key("t-" + uuid.uuid4().hex[:12])
    return server.client(key), key


# --------------------------------------------------------------------------
# Media fixtures
# --------------------------------------------------------------------------

def _ffmpeg(*args: str) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        pytest.fail(f"ffmpeg failed: {' '.join(cmd)}\n{out.stderr}", pytrace=False)


class Media:
    def __init__(self, root: Path):
        self.root = root

    def __getitem__(self, name: str) -> Path:
        p = self.root / name
        assert p.exists(), p
        return p


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> Media:
    if shutil.which("ffmpeg") is None:
        pytest.fail("the ffmpeg command line is needed to generate media fixtures", pytrace=False)
    d = tmp_path_factory.mktemp("media")
    dur = str(MEDIA_DURATION)
    video_src = ["-f", "lavfi", "-i", f"testsrc=size=320x240:rate=25:duration={dur}"]
    audio_src = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={dur}"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-shortest"]

    _ffmpeg(*video_src, *audio_src, *h264, "-movflags", "+faststart", str(d / "clip.mp4"))
    # moov atom at the end: its first half has no moov
    _ffmpeg(*video_src, *audio_src, *h264, str(d / "nofaststart.mp4"))
    _ffmpeg(*video_src, *audio_src, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
            "-b:v", "200k", "-c:a", "libopus", "-shortest", str(d / "clip.webm"))
    _ffmpeg(*audio_src, "-c:a", "libmp3lame", "-b:a", "64k", str(d / "tone.mp3"))
    _ffmpeg(*audio_src, "-c:a", "pcm_s16le", str(d / "tone.wav"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", str(d / "frame.png"))
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", "-q:v", "4", str(d / "frame.jpg"))

    (d / "empty.mp4").write_bytes(b"")
    (d / "x.mp4").write_text("this is plain text, not a video\n" * 20)
    whole = (d / "nofaststart.mp4").read_bytes()
    assert whole.rfind(b"moov") > len(whole) // 2, "expected the moov atom in the second half"
    (d / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    (d / "big.bin").write_bytes(os.urandom(2 * 1000 * 1000))
    return Media(d)


# --------------------------------------------------------------------------
# Local HTTP origin for method=url
# --------------------------------------------------------------------------


class _Origin(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _make_handler(root: Path):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep pytest output clean
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path.startswith("/redirect/"):
                self.send_response(302)
                self.send_header("Location", "/files/" + path[len("/redirect/"):])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if path.startswith("/files/"):
                f = root / path[len("/files/"):]
                if f.is_file() and f.parent == root:
                    body = f.read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
            body = b"not found"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture(scope="session")
def origin(media) -> str:
    """Base URL of a local HTTP server: /files/<name>, /redirect/<name> (302), anything else 404."""
    srv = _Origin(("127.0.0.1", 0), _make_handler(media.root))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
