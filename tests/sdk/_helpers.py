"""Shared helpers of the SDK compatibility tests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable, List, Optional

import httpx
import pytest
from twelvelabs.core.api_error import ApiError

READY_TIMEOUT = 30.0

# every generated video/audio fixture lasts this long (seconds)
MEDIA_DURATION = 2.0

VIDEO_AUDIO_TOLERANCE = 0.1

FILE_TYPES = {
    "clip.mp4": {"video/mp4"},
    "clip.webm": {"video/webm"},
    "tone.mp3": {"audio/mpeg"},
    "tone.wav": {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"},
    "frame.png": {"image/png"},
    "frame.jpg": {"image/jpeg"},
}
KINDS = {
    "clip.mp4": "video",
    "clip.webm": "video",
    "tone.mp3": "audio",
    "tone.wav": "audio",
    "frame.png": "image",
    "frame.jpg": "image",
}


def upload(client, path: Path, **kwargs):
    """`client.assets.create(method="direct", file=open(path, "rb"), ...)`."""
    with open(path, "rb") as f:
        return client.assets.create(method="direct", file=f, **kwargs)


def wait_done(client, asset_id: str, timeout: float = READY_TIMEOUT):
    """Poll retrieve until the asset leaves `processing`; returns the AssetDetail."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        a = client.assets.retrieve(asset_id)
        if a.status != "processing":
            return a
        if time.monotonic() > deadline:
            pytest.fail(f"asset {asset_id} still processing after {timeout:.0f} s: {a!r}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def upload_ready(client, path: Path, **kwargs):
    created = upload(client, path, **kwargs)
    assert created.id, created
    return created, wait_done(client, created.id)


def list_all(client, **kwargs) -> List[Any]:
    """Every item the SDK's SyncPager yields (it fetches pages until one is empty)."""
    return list(client.assets.list(**kwargs))


def ids(items: Iterable[Any]) -> List[str]:
    return [a.id for a in items]


def check_error_body(status: Optional[int], body: Any, want_status: int, code: Optional[str] = None,
                     mentions: Optional[str] = None) -> dict:
    assert status == want_status, f"expected HTTP {want_status}, got {status}: {body!r}"
    assert isinstance(body, dict), f"error body is not a JSON object: {body!r}"
    assert isinstance(body.get("code"), str) and body["code"], f"error body without code: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"], f"error body without message: {body!r}"
    if code is not None:
        assert body["code"] == code, f"expected code {code!r}, got {body!r}"
    if mentions is not None:
        assert mentions.lower() in body["message"].lower(), f"message should name {mentions!r}: {body!r}"
    return body


def check_api_error(exc: BaseException, want_status: int, code: Optional[str] = None,
                    mentions: Optional[str] = None) -> dict:
    """An SDK exception: ApiError (or subclass) with .status_code and .body."""
    assert isinstance(exc, ApiError), f"expected an SDK ApiError, got {type(exc).__name__}: {exc!r}"
    return check_error_body(exc.status_code, exc.body, want_status, code, mentions)


def check_response_error(resp: httpx.Response, want_status: int, code: Optional[str] = None,
                         mentions: Optional[str] = None) -> dict:
    assert "json" in resp.headers.get("content-type", ""), (
        f"error content-type should be JSON, got {resp.headers.get('content-type')!r}: {resp.text[:500]!r}"
    )
    try:
        body = resp.json()
    except ValueError:
        pytest.fail(f"error body is not JSON ({resp.status_code}): {resp.text[:500]!r}")
    return check_error_body(resp.status_code, body, want_status, code, mentions)


def sdk_call_error(fn, *args, **kwargs) -> ApiError:
    """Run an SDK call that must raise an ApiError; returns it."""
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    return info.value


def assert_no_trace(server, client) -> None:
    """After a rejected upload: the account has no asset and <data-dir>/tmp is empty."""
    left = list_all(client)
    assert left == [], f"a rejected upload left assets behind: {left!r}"
    tmp_left = server.wait_tmp_empty()
    assert tmp_left == [], f"{server.data_dir / 'tmp'} not empty after a rejected upload: {tmp_left}"
