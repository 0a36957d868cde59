"""The query side: a `SearchQuery` in, ranked `Hit`s out.

`searcher.Searcher` embeds a question and asks the store; `remote.HttpSearcher` asks a running service instead;
`backend` picks one of the two. `results`, `calibration` and `snippets` shape what a caller sees. Below the service
and the CLI, above the store.

`CollectionInfo`, what a collection holds, is the store's record, named here for the callers that must not import the
store (the UI).
"""

from search.store.schema import CollectionInfo

__all__ = ["CollectionInfo"]
