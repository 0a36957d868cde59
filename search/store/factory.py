"""`open_collection`: the one place that picks a store implementation, the embedded engine or a Qdrant server.

Kept apart from `search.store.collection` (the abstract `Collection` both implementations subclass), so that the
arrows point one way: the implementations import the base class, and only this module imports the implementations.
"""

from __future__ import annotations

import os

from search.store.collection import Collection
from search.store.defaults import DEFAULT_COLLECTION, DEFAULT_MIN_FREE_MB, embedded_folder
from search.store.fusion import Fusion
from search.validation import check_collection_name


def open_collection(
    url: str | None = None,
    api_key: str | None = None,
    path: str | os.PathLike[str] | None = None,
    collection: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    fusion: Fusion | None = None,
    *,
    min_free_mb: float = DEFAULT_MIN_FREE_MB,
    shards: int | None = None,
    replicas: int | None = None,
) -> Collection:
    """Connect to a server (`url`; ":memory:" is qdrant-client's in-process server API), or open the embedded
    store: the folder `path`, else `qdrant/` under the data folder `data_dir` (default: `default_data_dir()`).
    Checked once here: the server answers, the folder is not in use and is not in the old format (`OldFormatError`
    names the command that migrates it).

    Nothing is read from the environment: every argument left out means the settings' default (`collection`
    "docs", `fusion` `Fusion()`, ...). `min_free_mb` is the free disk space writes to the embedded store leave;
    `shards` and `replicas` shape a collection a server creates (None: the server's default). The settings'
    values are `settings.store.collection_options()`."""
    name = DEFAULT_COLLECTION if collection is None else check_collection_name(collection)  # before any path join
    store: Collection
    if url:
        from search.store.server import ServerCollection  # imported when used: qdrant-client is heavy

        store = ServerCollection.connect(url, api_key, name, shards=shards, replicas=replicas)
    else:
        from search.store.edge.collection import EdgeCollection

        store = EdgeCollection.open_folder(embedded_folder(path, data_dir), name, min_free_mb=min_free_mb)
    store.fusion = fusion or Fusion()
    return store
