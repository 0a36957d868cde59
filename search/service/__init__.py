"""`search serve`: the HTTP service over one `Searcher` (FastAPI app, micro-batching, admission, API key guard,
OpenAI-compatible embeddings, Prometheus metrics)."""
