"""Make `unstructured` work offline: no telemetry ping, no usage banner, no spaCy model download.

`unstructured` downloads and installs `en_core_web_sm` on its first partition call (for sentence splitting and a
verb check) and pings a telemetry URL on import. `setup_offline()` opts out of both, for the whole process, and,
when the spaCy model is not installed, hands unstructured a blank English pipeline with a rule-based
sentencizer instead. Without a POS tagger unstructured finds no verbs, so short sentences come back as `Title`;
`ingest.parse` corrects that.

The library never calls it by itself: a program that parses calls it once before its first parse (the `ingest`
command and the UI do), as the Python API's example in `ingest` shows.
"""

from __future__ import annotations

import os

OPT_OUT_ENV = {
    "DO_NOT_TRACK": "1",  # unstructured's telemetry opt-out (also SCARF_NO_ANALYTICS)
    "SCARF_NO_ANALYTICS": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}
_ready = False


def setup_offline() -> None:
    """Idempotent: set the opt-out environment (unless already set) and give unstructured the offline spaCy
    pipeline when its model is not installed. Call before the first parse (and import of unstructured)."""
    global _ready
    if _ready:
        return
    for key, value in OPT_OUT_ENV.items():
        os.environ.setdefault(key, value)
    import spacy
    from unstructured.nlp import tokenize

    if not spacy.util.is_package(tokenize._SPACY_MODEL_NAME):
        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        tokenize._load_spacy_model = lambda: nlp  # what unstructured's cached `_get_nlp` loads
        tokenize._get_nlp.cache_clear()
    _ready = True
