"""Indexes, indexed assets and the 409 on deleting a referenced asset, through the SDK."""

import pytest
from twelvelabs.errors import ConflictError

from _helpers import upload, upload_ready

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def test_index_lifecycle(client):
    created = client.indexes.create(index_name="sdk-index", models=MODELS)
    assert created.id
    index = client.indexes.retrieve(created.id)
    assert index.index_name == "sdk-index"
    assert index.models[0].model_name == "marengo3.0"
    client.indexes.update(created.id, index_name="renamed")
    assert client.indexes.retrieve(created.id).index_name == "renamed"
    assert created.id in [i.id for i in client.indexes.list()]
    client.indexes.delete(created.id)
    assert created.id not in [i.id for i in client.indexes.list()]


def test_referenced_asset_delete_conflicts_unless_forced(client, media):
    _, asset = upload_ready(client, media["clip.mp4"])
    index = client.indexes.create(index_name="guard", models=MODELS)
    indexed = client.indexes.indexed_assets.create(index.id, asset_id=asset.id)
    assert indexed.id
    assert indexed.asset_id == asset.id

    one = client.indexes.indexed_assets.retrieve(index.id, indexed.id)
    assert one.status == "ready"
    assert one.system_metadata.filename == "clip.mp4"
    assert [i.id for i in client.indexes.indexed_assets.list(index.id)] == [indexed.id]
    refs = list(client.indexes.indexed_assets.list_by_asset(asset.id))
    assert [(r.id, r.index.id, r.index.name) for r in refs] == [(indexed.id, index.id, "guard")]

    with pytest.raises(ConflictError) as raised:
        client.assets.delete(asset.id)
    assert raised.value.status_code == 409
    assert raised.value.body["code"] == "asset_in_use"
    assert client.assets.retrieve(asset.id).status == "ready"

    client.assets.delete(asset.id, force=True)
    assert list(client.indexes.indexed_assets.list(index.id)) == []
    assert client.indexes.retrieve(index.id).id == index.id


def test_indexed_asset_filters_and_metadata_update(client, media):
    """The SDK's own encodings: status repeated, duration[gte], user_metadata[k]=v."""
    index = client.indexes.create(index_name="sdk-filters", models=MODELS)
    video = upload(client, media["clip.mp4"])
    image = upload(client, media["frame.png"])
    on_video = client.indexes.indexed_assets.create(index.id, asset_id=video.id, user_metadata={"camera": "a7"})
    on_image = client.indexes.indexed_assets.create(index.id, asset_id=image.id, user_metadata={"camera": "x100"})

    def ids(**filters):
        return [i.id for i in client.indexes.indexed_assets.list(index.id, **filters)]

    assert ids(status=["ready", "failed"]) == [on_image.id, on_video.id]
    assert ids(duration={"gte": 0.5}) == [on_video.id]
    assert ids(width={"gte": 1, "lte": 100000}) == [on_video.id]
    assert ids(user_metadata={"camera": "x100"}) == [on_image.id]
    assert ids(filename="FRAME") == [on_image.id]

    client.indexes.indexed_assets.update(index.id, on_image.id, user_metadata={"camera": None, "scene": "b"})
    assert client.indexes.indexed_assets.retrieve(index.id, on_image.id).user_metadata == {"scene": "b"}
    assert ids(user_metadata={"camera": "x100"}) == []
