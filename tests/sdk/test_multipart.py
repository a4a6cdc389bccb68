"""The SDK's own multipart helper, unchanged: `multipart_upload.upload_file`
splits a file of several chunks, asks for chunk URLs, PUTs them (5 at a time,
no API key), reports them, and keeps the asset id; the asset then becomes
ready with the file's size, duration and bytes."""

from __future__ import annotations

import hashlib
import subprocess


from _helpers import wait_done

CHUNK = 5 * 1024 * 1024


def test_upload_file_makes_a_ready_asset_of_several_chunks(start_server, tmp_path):
    srv = start_server(ASSETD_MULTIPART_CHUNK_BYTES=CHUNK)
    client = srv.client()
    video = tmp_path / "several-chunks.mp4"
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=duration=6:size=640x360:rate=30,noise=alls=60:allf=t",
         "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "20M", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )
    size = video.stat().st_size
    assert size > 2 * CHUNK, size

    result = client.multipart_upload.upload_file(str(video), file_type="video")
    assert result.asset_id
    asset = wait_done(client, result.asset_id)
    assert asset.status == "ready", asset
    assert asset.method == "multipart"
    assert asset.size == size
    assert abs(asset.duration - 6.0) < 0.2, asset.duration
    assert hashlib.sha256(srv.stored_original(result.asset_id)).hexdigest() == hashlib.sha256(video.read_bytes()).hexdigest()
    assert list(client.multipart_upload.list_incomplete_uploads()) == [], "it completed"


def test_the_low_level_calls_and_wait_for_upload_completion(start_server, tmp_path):
    """create, list_incomplete_uploads, get_additional_presigned_urls,
    report_chunk_batch and wait_for_upload_completion, which pages through
    every chunk (pending ones too) until all are completed."""
    import httpx

    srv = start_server(ASSETD_MULTIPART_CHUNK_BYTES=CHUNK)
    client = srv.client()
    data = (tmp_path / "data.bin")
    data.write_bytes(b"\0" * (2 * CHUNK + 10))  # three chunks; not media, so the asset fails
    session = client.multipart_upload.create(filename="data.bin", type="video", total_size=2 * CHUNK + 10)
    assert session.total_chunks == 3 and session.chunk_size == CHUNK
    incomplete = list(client.multipart_upload.list_incomplete_uploads())
    assert [u.upload_id for u in incomplete] == [session.upload_id]

    # The SDK pages through every chunk (two a page) until a page is empty.
    chunks = list(client.multipart_upload.get_status(session.upload_id, page_limit=2))
    assert [c.index for c in chunks] == [1, 2, 3]
    assert {c.status for c in chunks} == {"pending"}

    more = client.multipart_upload.get_additional_presigned_urls(session.upload_id, start=3, count=1)
    urls = {u.chunk_index: u.url for u in session.upload_urls}
    urls[3] = more.upload_urls[0].url
    body = data.read_bytes()
    proofs = []
    for index in (1, 2, 3):
        part = body[(index - 1) * CHUNK: index * CHUNK]
        put = httpx.put(urls[index], content=part, headers={"Content-Type": "application/octet-stream"})
        assert put.status_code == 200, put.text
        proofs.append({"chunk_index": index, "proof": put.headers["etag"].strip('"'), "proof_type": "etag", "chunk_size": len(part)})
    reported = client.multipart_upload.report_chunk_batch(session.upload_id, completed_chunks=proofs)
    assert reported.url and reported.total_completed == 3

    done = client.multipart_upload.wait_for_upload_completion(session.upload_id, sleep_interval=0.2)
    assert done.status == "completed"
    asset = wait_done(client, session.asset_id)
    assert asset.status == "failed", "zeros are no video"
