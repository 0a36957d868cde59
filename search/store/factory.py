"""`open_collection`: the one place that picks a backend, the embedded engine or a Qdrant server.

Kept apart from `search.store.collection` (the abstract `Collection` both backends implement), so that the arrows
point one way: the backends import the base class, and only this module imports the backends.
"""

from __future__ import annotations

import os

from search.settings import StoreSettings
from search.store.collection import Collection, embedded_folder
from search.store.fusion import Fusion
from search.validation import check_collection_name


def open_collection(
    url: str | None = None,
    api_key: str | None = None,
    path: str | os.PathLike[str] | None = None,
    collection: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    fusion: Fusion | None = None,
) -> Collection:
    """Connect to a server (`url`; ":memory:" is qdrant-client's in-process server API), or open the embedded
    store: the folder `path`, else `qdrant/` under the data folder `data_dir`. Arguments left at None come from
    `StoreSettings` (`$QDRANT_URL`, `$ECHO_SEARCH_DATA`, ...). Checked once here: the server answers, the folder
    is not in use and is not in the old format (`OldFormatError` names the command that migrates it).
    `fusion` (default: from the settings, `ECHO_SEARCH_FUSION`, ...) is how `hybrid` queries fuse."""
    if collection is not None:
        check_collection_name(collection)  # before it is joined to any path
    where = StoreSettings().override(qdrant_url=url, qdrant_api_key=api_key, collection=collection,
                                     data=data_dir)
    store: Collection
    if where.qdrant_url:
        from search.store.server import ServerCollection  # imported when used: qdrant-client is heavy

        store = ServerCollection.connect(where.qdrant_url, where.qdrant_api_key, where.collection,
                                         shards=where.shards, replicas=where.replicas)
    else:
        from search.store.edge import EdgeCollection

        store = EdgeCollection.open_folder(embedded_folder(path, where.data_dir()), where.collection,
                                           min_free_mb=where.min_free_mb)
    store.fusion = fusion or Fusion.from_settings(where)
    return store
