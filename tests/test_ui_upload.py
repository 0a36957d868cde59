"""Uploads in the UI: safe names and limits, and an upload ingested through the app with the open store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui_fixtures import run_app, ui_env_fixture  # noqa: F401 - fixture
from ui import uploads


@pytest.mark.parametrize(("name", "safe"), [
    ("notes.md", "notes.md"),
    ("../../etc/evil.md", "evil.md"),
    ("C:\\Users\\me\\Report 2024 (final).PDF", "Report_2024_final.pdf"),
    ("résumé.docx", "resume.docx"),
    (".hidden.txt", "hidden.txt"),
    ("...", "upload"),
    ("x" * 300 + ".md", "x" * 117 + ".md"),
])
def test_sanitise_filename(name: str, safe: str) -> None:
    assert uploads.sanitise_filename(name) == safe


def test_save_upload_checks_type_size_and_emptiness(tmp_path: Path) -> None:
    saved = uploads.save_upload("../a b.md", b"# A\n\nhello", tmp_path, limit_mb=1)
    assert saved == tmp_path / "a_b.md" and saved.read_bytes() == b"# A\n\nhello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_b.md"]  # no temporary file left behind
    with pytest.raises(uploads.UploadError, match="unsupported file type"):
        uploads.save_upload("tool.exe", b"MZ", tmp_path, limit_mb=1)
    with pytest.raises(uploads.UploadError, match="empty"):
        uploads.save_upload("empty.txt", b"", tmp_path, limit_mb=1)
    with pytest.raises(uploads.UploadError, match="over the 1 MB upload limit"):
        uploads.save_upload("big.txt", b"x" * (2 * 1024 * 1024), tmp_path, limit_mb=1)


def test_upload_limit_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_SEARCH_UPLOAD_MB", "7")
    assert uploads.upload_limit_mb() == 7
    monkeypatch.setenv("ECHO_SEARCH_UPLOAD_MB", "lots")
    assert uploads.upload_limit_mb() == uploads.DEFAULT_LIMIT_MB


def test_upload_ingests_into_the_empty_collection(ui_env: Path) -> None:
    at = run_app()
    assert "upload files in the sidebar" in at.info[0].value  # the empty state points at the upload box
    text = "# Herons\n\nThe grey heron nests in tall trees near lakes.\n\nIt hunts fish in shallow water.\n"
    at.sidebar.file_uploader[0].set_value([("Heron notes (1).md", text.encode(), "text/markdown"),
                                           ("tool.exe", b"MZ", "application/octet-stream")])
    at.run()
    at.sidebar.button[0].click().run()
    assert not at.exception, at.exception
    # the .exe is refused with the reason, nothing is half-ingested
    assert len(at.error) == 1 and "tool.exe: unsupported file type" in at.error[0].value
    at.sidebar.file_uploader[0].set_value(("Heron notes (1).md", text.encode(), "text/markdown"))
    at.run()
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert (ui_env / "uploads" / "Heron_notes_1.md").read_text() == text
    assert len(at.success) == 1 and "1 added" in at.success[0].value
    assert not at.info  # no empty state any more: the query box is there
    assert at.text_input
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "1 files ·" in sidebar
