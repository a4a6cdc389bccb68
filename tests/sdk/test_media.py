"""enable_hls / enable_thumbnail through the SDK: poll retrieve until both steps
are ready, then fetch their URLs without a key and play the stream with ffmpeg."""

import subprocess
import time

import httpx
import pytest

from _helpers import MEDIA_DURATION, upload

STEPS_TIMEOUT = 120.0


def wait_steps(client, asset_id):
    deadline = time.monotonic() + STEPS_TIMEOUT
    while True:
        asset = client.assets.retrieve(asset_id)
        busy = [s for s in (asset.hls, asset.thumbnail) if s is not None and s.status in ("pending", "processing")]
        if not busy:
            return asset
        assert time.monotonic() < deadline, f"steps did not finish: {asset}"
        time.sleep(0.2)


def played_seconds(url):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url],
        capture_output=True, text=True, check=True,
    )
    return float(out.stdout.strip())


@pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "tone.mp3"])
def test_hls_and_thumbnail_become_ready_and_play(client, media, name):
    created = upload(client, media[name], enable_hls=True, enable_thumbnail=True)
    assert created.status == "ready"
    asset = wait_steps(client, created.id)
    assert asset.thumbnail.status == "ready", asset
    assert asset.hls.status == "ready", asset

    thumb = httpx.get(asset.thumbnail.representative_url)
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff", "a JPEG"

    manifest = httpx.get(asset.hls.manifest_url)
    assert manifest.status_code == 200
    assert manifest.text.startswith("#EXTM3U")
    assert abs(played_seconds(asset.hls.manifest_url) - MEDIA_DURATION) < 0.5


def test_image_has_a_thumbnail_and_no_hls(client, media):
    created = upload(client, media["frame.png"], enable_hls=True, enable_thumbnail=True)
    asset = wait_steps(client, created.id)
    assert asset.hls is None
    assert asset.thumbnail.status == "ready"
    assert httpx.get(asset.thumbnail.representative_url).status_code == 200


def test_steps_not_requested_are_absent(client, media):
    created = upload(client, media["clip.mp4"], enable_hls=False, enable_thumbnail=False)
    asset = client.assets.retrieve(created.id)
    assert asset.hls is None and asset.thumbnail is None
