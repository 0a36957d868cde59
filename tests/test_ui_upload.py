"""Uploads in the UI: safe names and limits, and an upload ingested through the app with the open store."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.settings import Settings, SettingsError
from tests.ui_fixtures import run_app, ui_env_fixture  # noqa: F401 - fixture
from ui import uploads


@pytest.mark.parametrize(("name", "safe"), [
    ("notes.md", "notes.md"),
    ("../../etc/evil.md", "evil.md"),
    ("C:\\Users\\me\\Report 2024 (final).PDF", "Report 2024 (final).pdf"),
    ("résumé.docx", "résumé.docx"),
    ("re\u0301sume\u0301.docx", "résumé.docx"),  # NFD (macOS) and NFC are one name
    ("漢字.md", "漢字.md"),
    (".hidden.txt", "hidden.txt"),
    ("...", "upload"),
    ("..", "upload"),
    (".md", "upload.md"),
    ("....md", "upload.md"),
    ("a\x00b\nc\td.md", "ab c d.md"),
    ("invoice\u202egpj.md", "invoicegpj.md"),
    ('a<b>:c|d?.md', "a_b__c_d_.md"),
    ("x" * 300 + ".md", "x" * 117 + ".md"),
    ("漢" * 100 + ".md", "漢" * 39 + ".md"),  # 120 bytes of UTF-8, no character cut in half
])
def test_sanitise_filename(name: str, safe: str) -> None:
    assert uploads.sanitise_filename(name) == safe


def test_save_upload_checks_type_size_and_emptiness(tmp_path: Path) -> None:
    saved = uploads.save_upload("../a b.md", b"# A\n\nhello", tmp_path, limit_mb=1)
    assert saved == tmp_path / "a b.md" and saved.read_bytes() == b"# A\n\nhello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a b.md"]  # no temporary file left behind
    with pytest.raises(uploads.UploadError, match="unsupported file type"):
        uploads.save_upload("tool.exe", b"MZ", tmp_path, limit_mb=1)
    with pytest.raises(uploads.UploadError, match="empty"):
        uploads.save_upload("empty.txt", b"", tmp_path, limit_mb=1)
    with pytest.raises(uploads.UploadError, match="over the 1 MB upload limit"):
        uploads.save_upload("big.txt", b"x" * (2 * 1024 * 1024), tmp_path, limit_mb=1)


def test_a_different_upload_is_never_overwritten(tmp_path: Path) -> None:
    first = uploads.save_upload("notes.md", b"first", tmp_path, limit_mb=1)
    second = uploads.save_upload("notes.md", b"second", tmp_path, limit_mb=1)
    third = uploads.save_upload("../notes.md", b"third", tmp_path, limit_mb=1)
    assert [first.name, second.name, third.name] == ["notes.md", "notes (2).md", "notes (3).md"]
    assert [p.read_bytes() for p in (first, second, third)] == [b"first", b"second", b"third"]
    assert uploads.save_upload("notes.md", b"second", tmp_path, limit_mb=1) == second  # same bytes: reused
    assert uploads.save_upload(".md", b"x", tmp_path, limit_mb=1).name == "upload.md"
    assert uploads.save_upload("....md", b"y", tmp_path, limit_mb=1).name == "upload (2).md"
    assert len(list(tmp_path.iterdir())) == 5  # nothing else, no temporary files


def test_upload_limit_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_SEARCH_UPLOAD_MB", "7")
    assert Settings.load().ui.upload_mb == 7
    monkeypatch.setenv("ECHO_SEARCH_UPLOAD_MB", "lots")
    with pytest.raises(SettingsError, match="ECHO_SEARCH_UPLOAD_MB='lots'"):
        Settings.load()


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
    assert (ui_env / "uploads" / "Heron notes (1).md").read_text() == text
    assert len(at.success) == 1 and "1 added" in at.success[0].value
    assert not at.info  # no empty state any more: the query box is there
    assert at.text_input
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "1 files ·" in sidebar


def test_uploads_that_used_to_collide_all_reach_the_collection(ui_env: Path) -> None:
    """`漢字.md`, `....md` and `.md` all became `upload.md`, `résumé.md` and `resume.md` both `resume.md`."""
    uploaded = {"漢字.md": "# Kanji\n\nNotes written about kanji.\n", "....md": "# Dots\n\nA note about dots.\n",
                ".md": "# Bare\n\nA note with a bare name.\n", "résumé.md": "# CV\n\nWork history in French.\n",
                "resume.md": "# Resume\n\nTo resume a download, press play.\n"}
    at = run_app()
    at.sidebar.file_uploader[0].set_value([(name, text.encode(), "text/markdown") for name, text in uploaded.items()])
    at.run()
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    folder = ui_env / "uploads"
    stored = {p.name: p.read_text() for p in folder.iterdir()}
    assert stored == {"漢字.md": uploaded["漢字.md"], "upload.md": uploaded["....md"],
                      "upload (2).md": uploaded[".md"], "résumé.md": uploaded["résumé.md"],
                      "resume.md": uploaded["resume.md"]}
    message = at.success[0].value
    assert "5 added" in message and "`upload (2).md` (uploaded as `.md`)" in message
    # the same name with other content later: stored beside the first, both in the collection
    at.sidebar.file_uploader[0].set_value(("resume.md", b"# Resume v2\n\nA newer resume.\n", "text/markdown"))
    at.run()
    at.sidebar.button[0].click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert (folder / "resume.md").read_text() == uploaded["resume.md"]
    assert (folder / "resume (2).md").read_text() == "# Resume v2\n\nA newer resume.\n"
    assert "1 added" in at.success[0].value and "`resume (2).md` (uploaded as `resume.md`)" in at.success[0].value
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "6 files ·" in sidebar
