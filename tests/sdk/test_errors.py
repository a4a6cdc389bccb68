"""Errors: through the SDK where it can send the case, through raw httpx otherwise.

Every error body is JSON `{"code": ..., "message": ...}`; after each rejected
upload the account lists no new asset and `<data-dir>/tmp/` is empty.
"""

from __future__ import annotations

import time
import pytest
from twelvelabs.errors.bad_request_error import BadRequestError

from _helpers import (
    assert_no_trace,
    check_api_error,
    check_response_error,
    list_all,
    sdk_call_error,
    upload,
    wait_done,
)

# ---------------------------------------------------------------- authentication


def test_wrong_key_401(server, media):
    bad = server.client("tlk_" + "0" * 32)
    check_api_error(sdk_call_error(bad.assets.list), 401, "api_key_invalid")
    check_api_error(sdk_call_error(bad.assets.retrieve, "anything"), 401, "api_key_invalid")
    check_api_error(sdk_call_error(bad.assets.delete, "anything"), 401, "api_key_invalid")
    check_api_error(sdk_call_error(upload, bad, media["frame.png"]), 401, "api_key_invalid")
    assert server.wait_tmp_empty() == []


def test_missing_key_401(server):
    with server.http(api_key="") as http:
        check_response_error(http.get("assets"), 401, "api_key_invalid")
        check_response_error(http.get("assets/xyz"), 401, "api_key_invalid")
        resp = http.post("assets", files=[("method", (None, "url")), ("url", (None, "http://example.com/a.mp4"))])
        check_response_error(resp, 401, "api_key_invalid")


def test_revoked_key_401(server, media):
    """The server remembers a key's account for ASSETD_KEY_CACHE_SECS (1 s in
    these tests): a revoked key stops working within that."""
    key = server.create_key("revoked-account")
    c = server.client(key)
    assert list_all(c) == []
    server.revoke_key(key)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            c.assets.list()
        except Exception:
            break
        time.sleep(0.1)
    check_api_error(sdk_call_error(c.assets.list), 401, "api_key_invalid")


# ---------------------------------------------------------------- create: missing / unknown parameters


def test_missing_method(server, fresh, media):
    client, key = fresh
    with server.http(key) as http:
        resp = http.post("assets", files={"file": ("clip.mp4", media["clip.mp4"].read_bytes(), "video/mp4")})
        check_response_error(resp, 400, "parameter_not_provided", mentions="method")
        # a multipart form with only a filename field
        resp = http.post("assets", files=[("filename", (None, "a.mp4"))])
        check_response_error(resp, 400, "parameter_not_provided", mentions="method")
    assert_no_trace(server, client)


def test_direct_without_file(server, fresh):
    client, _ = fresh
    err = sdk_call_error(client.assets.create, method="direct")
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_not_provided", mentions="file")
    err = sdk_call_error(client.assets.create, method="direct", filename="a.mp4")
    check_api_error(err, 400, "parameter_not_provided", mentions="file")
    assert_no_trace(server, client)


def test_url_without_url(server, fresh):
    client, _ = fresh
    err = sdk_call_error(client.assets.create, method="url")
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_not_provided", mentions="url")
    assert_no_trace(server, client)


def test_unknown_method(server, fresh, media, origin):
    client, _ = fresh
    err = sdk_call_error(client.assets.create, method="ftp", url=f"{origin}/files/clip.mp4")
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_unknown")
    with open(media["clip.mp4"], "rb") as f:
        err = sdk_call_error(client.assets.create, method="DIRECT-ish", file=f)
    check_api_error(err, 400, "parameter_unknown")
    assert_no_trace(server, client)


# ---------------------------------------------------------------- create: bad content


def test_empty_file(server, fresh, media):
    client, _ = fresh
    err = sdk_call_error(upload, client, media["empty.mp4"])
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_invalid")
    assert_no_trace(server, client)


def test_text_file_named_mp4(server, fresh, media):
    client, _ = fresh
    err = sdk_call_error(upload, client, media["x.mp4"])
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "file_type_unsupported")
    assert_no_trace(server, client)


def test_truncated_mp4_becomes_failed_asset(server, fresh, media):
    client, _ = fresh
    created = upload(client, media["truncated.mp4"])
    assert created.id
    assert created.status in ("processing", "failed"), created
    failed = wait_done(client, created.id)
    assert failed.status == "failed", failed
    assert failed.error is not None and failed.error.message, failed
    assert failed.filename == "truncated.mp4"
    assert failed.duration is None
    assert [a.id for a in list_all(client)] == [created.id]
    assert server.wait_tmp_empty() == []


# ---------------------------------------------------------------- create: filename


def test_filename_too_long(server, fresh, media):
    client, _ = fresh
    err = sdk_call_error(upload, client, media["frame.png"], filename="a" * 296 + ".png")
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_invalid", mentions="filename")
    assert_no_trace(server, client)


@pytest.mark.parametrize("name", ["../evil.png", "../../etc/passwd", "a/../b.png"])
def test_filename_with_dotdot(server, fresh, media, name):
    client, _ = fresh
    err = sdk_call_error(upload, client, media["frame.png"], filename=name)
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_invalid", mentions="filename")
    assert_no_trace(server, client)


def test_part_filename_with_dotdot_is_not_kept(server, fresh, media):
    """A traversal in the part's own file name: refused, or cleaned to a plain name."""
    client, key = fresh
    with server.http(key) as http:
        resp = http.post("assets", data={"method": "direct"},
                         files={"file": ("../../evil.png", media["frame.png"].read_bytes(), "image/png")})
    if resp.status_code == 400:
        check_response_error(resp, 400, "parameter_invalid")
        assert_no_trace(server, client)
    else:
        assert 200 <= resp.status_code < 300, resp.text
        name = resp.json().get("filename", "")
        assert "/" not in name and ".." not in name, name


# ---------------------------------------------------------------- list parameters


@pytest.mark.parametrize("params,param", [
    ({"page": 0}, "page"),
    ({"page": -1}, "page"),
    ({"page_limit": 51}, "page_limit"),
    ({"page_limit": 0}, "page_limit"),
])
def test_list_bad_paging_sdk(client, params, param):
    err = sdk_call_error(client.assets.list, **params)
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_invalid", mentions=param)


@pytest.mark.parametrize("query,param", [
    ("page=abc", "page"),
    ("page=1.5", "page"),
    ("page_limit=abc", "page_limit"),
    ("page_limit=5x", "page_limit"),
])
def test_list_bad_paging_raw(server, query, param):
    with server.http() as http:
        check_response_error(http.get("assets?" + query), 400, "parameter_invalid", mentions=param)


def test_list_unknown_asset_type(client):
    err = sdk_call_error(client.assets.list, asset_types=["movie"])
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "parameter_unknown")


# ---------------------------------------------------------------- size limit


def test_upload_over_limit_413(start_server, media):
    srv = start_server(ASSETD_MAX_UPLOAD_BYTES="1000000")
    client = srv.client()
    big = media["big.bin"]
    assert big.stat().st_size == 2_000_000
    err = sdk_call_error(upload, client, big, filename="big.mp4")
    check_api_error(err, 413, "file_too_large")
    assert_no_trace(srv, client)
    # a file under the limit still goes through
    created = upload(client, media["clip.mp4"])
    assert wait_done(client, created.id).status == "ready"


def test_chunked_upload_over_limit_413(start_server, media):
    """Like the JS SDK: Transfer-Encoding chunked, no Content-Length; the limit applies while bytes arrive."""
    srv = start_server(ASSETD_MAX_UPLOAD_BYTES="1000000")
    boundary = "sdkcompatboundary7d3f"
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\ndirect\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    data = media["big.bin"].read_bytes()

    def body():
        yield head
        for i in range(0, len(data), 64 * 1024):
            yield data[i:i + 64 * 1024]
        yield tail

    with srv.http() as http:
        resp = http.post("assets", content=body(),
                         headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    check_response_error(resp, 413, "file_too_large")
    assert_no_trace(srv, srv.client())


def test_url_download_over_limit(start_server, media, origin):
    """A URL download over the limit is not accepted: 413, or a failed asset."""
    srv = start_server(ASSETD_MAX_UPLOAD_BYTES="1000000")
    client = srv.client()
    try:
        created = client.assets.create(method="url", url=f"{origin}/files/big.bin", filename="big.mp4")
    except Exception as exc:  # noqa: BLE001 - checked below
        check_api_error(exc, 413, "file_too_large")
        assert_no_trace(srv, client)
        return
    assert wait_done(client, created.id).status == "failed"
    assert srv.wait_tmp_empty() == []


# ---------------------------------------------------------------- URL uploads


def test_private_url_refused(start_server, media, origin):
    srv = start_server(allow_private=False)
    client = srv.client()
    for url in (f"{origin}/files/clip.mp4", f"http://localhost:{origin.rsplit(':', 1)[1]}/files/clip.mp4",
                "http://10.0.0.1/a.mp4", "http://169.254.169.254/latest/meta-data", "http://[::1]/a.mp4"):
        err = sdk_call_error(client.assets.create, method="url", url=url)
        assert isinstance(err, BadRequestError), url
        check_api_error(err, 400, "url_not_allowed")
    assert_no_trace(srv, client)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/a.mp4", "gopher://127.0.0.1/"])
def test_url_bad_scheme_refused(server, fresh, url):
    client, _ = fresh
    err = sdk_call_error(client.assets.create, method="url", url=url)
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400, "url_not_allowed")
    assert_no_trace(server, client)


def test_url_not_a_url(server, fresh):
    client, _ = fresh
    err = sdk_call_error(client.assets.create, method="url", url="not a url")
    assert isinstance(err, BadRequestError)
    check_api_error(err, 400)
    assert_no_trace(server, client)


def test_url_404(server, fresh, origin):
    client, _ = fresh
    err = sdk_call_error(client.assets.create, method="url", url=f"{origin}/nothing-here.mp4")
    check_api_error(err, 400)
    assert_no_trace(server, client)
