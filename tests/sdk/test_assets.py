"""Assets through the official SDK: create (direct, url), retrieve, list, delete."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from twelvelabs.errors.not_found_error import NotFoundError

from _helpers import (
    FILE_TYPES,
    KINDS,
    MEDIA_DURATION,
    VIDEO_AUDIO_TOLERANCE,
    check_api_error,
    ids,
    list_all,
    sdk_call_error,
    upload,
    upload_ready,
    wait_done,
)


def check_ready(asset, path, *, method="direct", filename=None):
    name = path.name
    assert asset.id, asset
    assert asset.status == "ready", f"{name}: {asset!r}"
    assert asset.method == method
    assert asset.filename == (filename or name)
    assert asset.file_type in FILE_TYPES[name], f"{name}: file_type {asset.file_type!r}"
    assert asset.size == path.stat().st_size
    if KINDS[name] == "image":
        assert asset.duration is None, f"an image has no duration: {asset!r}"
    else:
        assert asset.duration is not None, f"{name}: no duration"
        assert abs(asset.duration - MEDIA_DURATION) <= VIDEO_AUDIO_TOLERANCE, f"{name}: duration {asset.duration}"
    assert isinstance(asset.created_at, dt.datetime)
    assert asset.created_at.tzinfo is not None and asset.created_at.utcoffset() == dt.timedelta(0)
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - asset.created_at).total_seconds()) < 300, asset.created_at
    assert asset.error is None


# ---------------------------------------------------------------- create/retrieve


@pytest.mark.parametrize("name", list(FILE_TYPES))
def test_direct_upload_each_type(client, media, name):
    path = media[name]
    created, ready = upload_ready(client, path)
    assert created.status in ("processing", "ready"), created
    assert created.method == "direct"
    assert created.filename == name
    check_ready(ready, path)
    # every list item has the same shape
    [listed] = list_all(client, asset_ids=[ready.id])
    check_ready(listed, path)


def test_small_upload_is_ready_in_create_response(client, media):
    """Below ASSETD_SYNC_MAX_BYTES (default 200 MiB) the file is probed before the response."""
    path = media["clip.mp4"]
    created = upload(client, path)
    assert created.status == "ready", created
    # `Asset` (the create type) keeps unknown fields as extras
    assert getattr(created, "size", None) == path.stat().st_size
    assert abs(getattr(created, "duration", 0) - MEDIA_DURATION) <= VIDEO_AUDIO_TOLERANCE


def test_async_processing_above_sync_limit(start_server, media):
    srv = start_server(ASSETD_SYNC_MAX_BYTES="1000")
    client = srv.client()
    path = media["clip.mp4"]
    created = upload(client, path)
    assert created.status == "processing", created
    assert getattr(created, "size", None) is None, "size is absent while processing"
    assert getattr(created, "duration", None) is None, "duration is absent while processing"
    # Listed at once, then a background job probes it.
    assert created.id in [a.id for a in client.assets.list(filename=path.name)]
    check_ready(wait_done(client, created.id), path)


def test_explicit_filename_wins(client, media):
    _, ready = upload_ready(client, media["clip.mp4"], filename="My Holiday.mp4")
    assert ready.filename == "My Holiday.mp4"
    assert client.assets.retrieve(ready.id).filename == "My Holiday.mp4"


def test_file_tuple_and_bytes(client, media):
    data = media["frame.png"].read_bytes()
    created = client.assets.create(method="direct", file=("from-tuple.png", data))
    ready = wait_done(client, created.id)
    assert ready.status == "ready"
    assert ready.filename == "from-tuple.png"
    assert ready.file_type == "image/png"
    assert ready.size == len(data)


def test_content_type_detected_not_from_name(client, media, tmp_path):
    """file_type comes from the content: a PNG named .jpg is image/png."""
    p = tmp_path / "liar.jpg"
    shutil.copy(media["frame.png"], p)
    _, ready = upload_ready(client, p)
    assert ready.status == "ready"
    assert ready.file_type == "image/png"


def test_raw_json_shape(server, client, media):
    """`_id` on the wire; absent values are left out rather than sent as null."""
    _, ready = upload_ready(client, media["frame.png"])
    with server.http() as http:
        for url, pick in ((f"assets/{ready.id}", lambda b: b), ("assets", lambda b: b["data"][0])):
            resp = http.get(url, params={"asset_ids": ready.id} if url == "assets" else None)
            assert resp.status_code == 200, resp.text
            assert "json" in resp.headers["content-type"]
            body = pick(resp.json())
            assert body["_id"] == ready.id
            assert "id" not in body
            nulls = [k for k, v in body.items() if v is None]
            assert not nulls, f"fields sent as null: {nulls} in {body}"
            assert "duration" not in body
            assert "error" not in body
            for k in ("method", "status", "filename", "file_type", "size", "created_at"):
                assert k in body, f"{k} missing from {body}"
            assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")


@pytest.mark.parametrize("name", ["clip.mp4", "frame.png", "tone.wav"])
def test_technical_metadata(server, client, media, name):
    """technical_metadata of a ready asset parses with the SDK's own types (via retrieve) and is right."""
    path = media[name]
    _, ready = upload_ready(client, path)
    tm = ready.technical_metadata
    assert tm is not None, f"no technical_metadata on a ready asset: {ready!r}"
    assert tm.file_size_bytes in (None, path.stat().st_size)
    if name == "clip.mp4":
        assert (tm.video_width, tm.video_height) == (320, 240)
        assert tm.video_codec == "h264"
        assert tm.audio_codec == "aac"
        assert tm.has_audio is True
        assert tm.video_fps is None or abs(tm.video_fps - 25) < 0.01
        assert tm.total_video_streams in (None, 1)
        assert tm.video_streams is None or len(tm.video_streams) == 1
    elif name == "frame.png":
        assert (tm.image_width, tm.image_height) == (320, 240)
        assert tm.video_codec is None and tm.audio_codec is None
    else:
        assert tm.audio_sample_rate == 48000
        assert tm.audio_channels == 1
        assert tm.video_codec is None


def test_url_upload(client, media, origin):
    path = media["clip.mp4"]
    created = client.assets.create(method="url", url=f"{origin}/files/clip.mp4")
    assert created.id
    ready = wait_done(client, created.id)
    check_ready(ready, path, method="url")


def test_url_upload_follows_redirect(client, media, origin):
    path = media["tone.mp3"]
    created = client.assets.create(method="url", url=f"{origin}/redirect/tone.mp3", filename="song.mp3")
    ready = wait_done(client, created.id)
    check_ready(ready, path, method="url", filename="song.mp3")


# ---------------------------------------------------------------- list


def raw_list(server, key, **params):
    with server.http(key) as http:
        resp = http.get("assets", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_list_newest_first_and_page_info(server, fresh, media):
    client, key = fresh
    made = [upload(client, media["frame.png"], filename=f"n{i}.png").id for i in range(3)]
    pager = client.assets.list()
    assert ids(pager.items) == made[::-1], "list must be newest first"
    body = raw_list(server, key)
    assert body["page_info"] == {"page": 1, "limit_per_page": 10, "total_page": 1, "total_results": 3}
    # the JS SDK leaves page out of the first call; page=1 is what the Python SDK sends
    assert [a["_id"] for a in body["data"]] == made[::-1]


def test_list_paging_covers_every_asset_once(server, fresh, media):
    client, key = fresh
    made = [upload(client, media["frame.jpg"], filename=f"p{i}.jpg").id for i in range(5)]

    seen = list_all(client, page_limit=2)
    assert ids(seen) == made[::-1]
    assert len(set(ids(seen))) == 5

    pages = [ids(p.items) for p in client.assets.list(page_limit=2).iter_pages()]
    assert pages == [made[4:2:-1], made[2:0:-1], made[0:1]]

    body = raw_list(server, key, page=2, page_limit=2)
    assert body["page_info"] == {"page": 2, "limit_per_page": 2, "total_page": 3, "total_results": 5}
    assert [a["_id"] for a in body["data"]] == made[2:0:-1]

    # past the end: 200 with empty data
    past = client.assets.list(page=4, page_limit=2)
    assert past.items == []
    assert list(client.assets.list(page=99, page_limit=50)) == []


def test_list_empty_account(server, fresh):
    client, key = fresh
    assert list_all(client) == []
    body = raw_list(server, key)
    assert body["data"] == []
    assert body["page_info"]["total_results"] == 0
    assert body["page_info"]["page"] == 1


def test_list_page_limit_50(fresh, media):
    client, _ = fresh
    a = upload(client, media["frame.png"]).id
    assert ids(client.assets.list(page_limit=50).items) == [a]
    assert ids(client.assets.list(page_limit=1).items) == [a]


def test_list_filter_asset_types(fresh, media):
    client, _ = fresh
    v = upload(client, media["clip.mp4"]).id
    a = upload(client, media["tone.wav"]).id
    i = upload(client, media["frame.png"]).id
    w = upload(client, media["clip.webm"]).id
    assert set(ids(list_all(client, asset_types=["video", "audio"]))) == {v, a, w}
    assert ids(list_all(client, asset_types=["video", "audio"])) == [w, a, v]
    assert ids(list_all(client, asset_types=["image"])) == [i]
    assert ids(list_all(client, asset_types="video")) == [w, v]
    assert ids(list_all(client, asset_types=["audio"])) == [a]


def test_list_filter_document_type(fresh, media):
    """The SDK's asset_types enum includes "document": a valid filter that matches nothing here."""
    client, _ = fresh
    upload(client, media["frame.png"])
    assert list_all(client, asset_types=["document"]) == []
    assert list_all(client, asset_types=["document", "video"]) == []


def test_list_filter_filename_literal_wildcards(fresh, media, tmp_path):
    client, _ = fresh
    named = {}
    for name in ("100%_real.mp4", "100x real.mp4", "Cat Video.MP4", "plain.png", "Ünï + plus.png"):
        p = tmp_path / name
        shutil.copy(media["frame.png"] if name.endswith(".png") else media["clip.mp4"], p)
        created = upload(client, p)
        assert created.filename == name
        named[name] = created.id

    def names(q):
        return sorted(a.filename for a in list_all(client, filename=q))

    assert names("%") == ["100%_real.mp4"], "% must match literally"
    assert names("_") == ["100%_real.mp4"], "_ must match literally"
    assert names("100%") == ["100%_real.mp4"]
    assert names("%_r") == ["100%_real.mp4"]
    assert names("0_r") == []
    assert names("real") == ["100%_real.mp4", "100x real.mp4"]
    assert names("cat video") == ["Cat Video.MP4"], "case-insensitive"
    assert names("REAL.MP4") == ["100%_real.mp4", "100x real.mp4"]
    assert names(".mp4") == ["100%_real.mp4", "100x real.mp4", "Cat Video.MP4"]
    assert names("nomatch") == []
    # the SDK encodes a space as "+" and "+" as "%2B"
    assert names("+ p") == ["Ünï + plus.png"]
    assert names("ünï") == ["Ünï + plus.png"]
    # combined with a type filter
    assert names("a") == ["100%_real.mp4", "100x real.mp4", "Cat Video.MP4", "plain.png"]
    assert sorted(a.filename for a in list_all(client, filename="a", asset_types=["image"])) == ["plain.png"]


def test_list_filter_asset_ids(fresh, media):
    client, _ = fresh
    a, b, c = (upload(client, media["frame.png"], filename=f"{x}.png").id for x in "abc")
    assert ids(list_all(client, asset_ids=[a, c])) == [c, a]
    assert ids(list_all(client, asset_ids=b)) == [b]
    assert ids(list_all(client, asset_ids=[a, b, c], page_limit=1)) == [c, b, a]
    # a well-formed id that is not there (last hex digits changed)
    missing = a[:-4] + ("0000" if a[-4:] != "0000" else "1111")
    assert missing not in (a, b, c)
    assert list_all(client, asset_ids=[missing]) == []


# ---------------------------------------------------------------- delete, accounts


def test_delete_then_retrieve_404(client, media):
    _, ready = upload_ready(client, media["frame.png"])
    client.assets.delete(ready.id)
    err = sdk_call_error(client.assets.retrieve, ready.id)
    assert isinstance(err, NotFoundError)
    check_api_error(err, 404, "resource_not_exist")
    assert ready.id not in ids(list_all(client, asset_ids=[ready.id]))
    # a second delete: 404 too
    check_api_error(sdk_call_error(client.assets.delete, ready.id), 404, "resource_not_exist")


def test_unknown_asset_404(client):
    err = sdk_call_error(client.assets.retrieve, "0193aaaa-0000-7000-8000-000000000000")
    assert isinstance(err, NotFoundError)
    check_api_error(err, 404, "resource_not_exist")
    check_api_error(sdk_call_error(client.assets.retrieve, "not-an-id"), 404, "resource_not_exist")
    check_api_error(sdk_call_error(client.assets.delete, "not-an-id"), 404, "resource_not_exist")


def test_other_account_cannot_see_asset(client, other_client, media):
    _, mine = upload_ready(client, media["frame.jpg"])
    err = sdk_call_error(other_client.assets.retrieve, mine.id)
    assert isinstance(err, NotFoundError)
    check_api_error(err, 404, "resource_not_exist")
    check_api_error(sdk_call_error(other_client.assets.delete, mine.id), 404, "resource_not_exist")
    assert mine.id not in ids(list_all(other_client))
    assert list_all(other_client, asset_ids=[mine.id]) == []
    # still there for its owner
    assert client.assets.retrieve(mine.id).status == "ready"
    # and the other way round
    _, theirs = upload_ready(other_client, media["frame.png"])
    check_api_error(sdk_call_error(client.assets.retrieve, theirs.id), 404, "resource_not_exist")
    assert list_all(client, asset_ids=[theirs.id]) == []


def test_user_metadata_replace_update_delete(client, media):
    """The SDK's replace/update/delete_user_metadata, read back through retrieve."""
    created = upload(client, media["frame.png"])
    client.assets.replace_user_metadata(
        created.id, user_metadata={"camera": "a7", "take": 3, "skip": "", "drop": None}
    )
    assert client.assets.retrieve(created.id).user_metadata == {"camera": "a7", "take": 3}
    client.assets.update_user_metadata(created.id, user_metadata={"take": None, "tags": ["x", "y"]})
    assert client.assets.retrieve(created.id).user_metadata == {"camera": "a7", "tags": ["x", "y"]}
    client.assets.delete_user_metadata(created.id)
    assert client.assets.retrieve(created.id).user_metadata is None
    with pytest.raises(Exception) as err:
        client.assets.update_user_metadata(created.id, user_metadata={"nested": {"no": 1}})
    check_api_error(err.value, 400, "parameter_invalid", "user_metadata")
    with pytest.raises(NotFoundError):
        client.assets.delete_user_metadata("0193a1b2c3d4e5f60718293a4b5c6d7e")
