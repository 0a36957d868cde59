"""Evaluation: when do echo embeddings beat classical ones, on public data and on the user's collection."""
