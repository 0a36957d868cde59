"""The query side: a `SearchQuery` in, ranked `Hit`s out.

`searcher.Searcher` embeds a question and asks the store; `remote.HttpSearcher` asks a running service instead;
`backend` picks one of the two. `results`, `calibration` and `snippets` shape what a caller sees. Below the service
and the CLI, above the store.
"""
