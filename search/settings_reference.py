"""The reference tables of docs/configuration.md, generated from the settings' fields: every environment variable with
its flag, default and meaning. `python -m search.settings_reference` prints them; tests/test_settings.py checks that
the file holds them."""

from __future__ import annotations

from collections.abc import Iterator

from embedder.settings import Section
from search.settings import SECTIONS, TITLES, env_name, field_extras


def documented_default(section: type[Section], field: str) -> str:
    """A field's default as the docs state it."""
    info = section.model_fields[field]
    extra = field_extras(section, field)
    if "doc_default" in extra:
        return str(extra["doc_default"])
    value = info.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, str):
        return f"`{value}`"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _rows(section: type[Section]) -> Iterator[str]:
    for field, info in section.model_fields.items():
        flag = field_extras(section, field).get("flag", "")
        flag = flag if not flag or "`" in flag else f"`{flag}`"
        yield f"| `{env_name(section, field)}` | {flag} | {documented_default(section, field)} | {info.description} |"


def reference_markdown() -> str:
    """The settings tables of docs/configuration.md: one per section, every variable with its flag and default."""
    parts = []
    for name, section in SECTIONS.items():
        parts += [f"### {TITLES[name]}", "", "| variable | flag | default | meaning |", "| --- | --- | --- | --- |",
                  *_rows(section), ""]
    return "\n".join(parts).rstrip() + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
