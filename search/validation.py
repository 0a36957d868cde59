"""What a search request may ask for: one definition shared by the CLI, the HTTP service, its client and the UI.

Only `InvalidRequestError` means "the caller asked for something the product refuses" (HTTP 422, usage error 2
on the command line); any other exception, a `ValueError` from numpy or a library included, is a bug.
"""

from __future__ import annotations

K_MIN, K_MAX = 1, 100
"""Hits per vector kind that one search may ask for."""


class InvalidRequestError(ValueError):
    """A search request the product refuses, with a message for the caller (k out of range, unknown mode, a query
    over the service's token limit)."""


def check_k(k: int) -> int:
    """`k` when it is within `K_MIN..K_MAX`, else `InvalidRequestError`."""
    if not K_MIN <= k <= K_MAX:
        raise InvalidRequestError(f"k must be between {K_MIN} and {K_MAX}, got {k}")
    return k


def check_text(text: str, what: str = "query") -> str:
    """`text` when it is valid Unicode, else `InvalidRequestError`: a lone surrogate (bytes that were not UTF-8 on a
    command line, or `"\\ud800"` in JSON) can be neither tokenized nor searched for."""
    for i, c in enumerate(text):
        if 0xD800 <= ord(c) <= 0xDFFF:
            escaped = c.encode("unicode_escape").decode()
            raise InvalidRequestError(f"{what}: not valid Unicode (a lone surrogate, {escaped}, at character {i}: "
                                      "bytes that are not UTF-8?)")
    return text


_TEMPLATE_SLOTS = ("{text}", "{instruction}")


def check_instruction(instruction: str) -> str:
    """`instruction` when it can go into the query template, else `InvalidRequestError`: it is put in literally,
    so it must not hold the template's own slots (`{text}` would repeat the query where it does not belong)."""
    check_text(instruction, "instruction")
    if found := [slot for slot in _TEMPLATE_SLOTS if slot in instruction]:
        raise InvalidRequestError(f"instruction: must not contain the template slot {found[0]} (the instruction is "
                                  "text, not a template)")
    return instruction


COLLECTION_NAME_MAX = 255
"""Longest collection name (Qdrant's limit)."""
COLLECTION_NAME_MAX_BYTES = 200
"""Longest collection name in UTF-8 bytes: it names a folder of the embedded store, and `search restore` puts
`.<name>.restoring` and `<name>.replaced-<time>` beside it, all within the file system's 255 bytes a name."""
_FORBIDDEN_IN_NAMES = '<>:"/\\|?*'


def collection_name_problem(name: str) -> str | None:
    """Why `name` cannot name a collection, or None. Qdrant's own rules (1 to 255 characters, none of
    `< > : " / \\ | ? *` or NUL), plus at most `COLLECTION_NAME_MAX_BYTES` bytes, no other control characters and
    not `.` or `..`: a name is a folder of the embedded store, and must never reach outside it."""
    if not name:
        return "it is empty"
    if len(name) > COLLECTION_NAME_MAX:
        return f"it is longer than {COLLECTION_NAME_MAX} characters"
    if (size := len(name.encode("utf-8", "surrogatepass"))) > COLLECTION_NAME_MAX_BYTES:
        return (f"it is {size} bytes long in UTF-8; at most {COLLECTION_NAME_MAX_BYTES} fit the file system beside "
                "the folders a restore makes")
    if bad := sorted({c for c in name if c in _FORBIDDEN_IN_NAMES or ord(c) < 32 or ord(c) == 127}):
        return "it contains " + " ".join(repr(c) for c in bad) + " (no path separators or control characters)"
    if name in (".", ".."):
        return "it is a relative folder name"
    if name != name.strip():
        return "it starts or ends with white space"
    if any(0xD800 <= ord(c) <= 0xDFFF for c in name):  # a lone surrogate: bytes that were not UTF-8
        return "it is not valid Unicode"
    return None


def check_collection_name(name: str) -> str:
    """`name` when it can name a collection, else `InvalidRequestError` saying why."""
    if problem := collection_name_problem(name):
        raise InvalidRequestError(f"invalid collection name {name!r}: {problem}")
    return name
