"""A real file over 200 MB: answered `processing`, then a background job makes
it ready without the client doing anything but polling."""

import subprocess

from _helpers import upload, wait_done

FRAMES = 160  # 1280x720 raw yuv420p is 1.38 MB a frame: about 221 MB
FPS = 30


def test_a_file_over_200_mb_is_processed_in_the_background(client, tmp_path):
    path = tmp_path / "big.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=1280x720:rate={FPS}",
         "-frames:v", str(FRAMES), "-c:v", "rawvideo", "-pix_fmt", "yuv420p", "-f", "matroska", str(path)],
        check=True,
    )
    size = path.stat().st_size
    assert size > 200 * 1024 * 1024

    created = upload(client, path)
    assert created.status == "processing"
    ready = wait_done(client, created.id, timeout=300)
    assert ready.status == "ready", ready
    assert ready.size == size
    assert abs(ready.duration - FRAMES / FPS) < 0.1
    assert ready.file_type == "video/x-matroska"
    client.assets.delete(created.id)
