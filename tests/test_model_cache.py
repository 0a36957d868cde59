"""The GGUF -> safetensors conversion is atomic: an interrupted conversion never leaves a broken cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoModel, AutoTokenizer

from embedder import loading


class Interrupted(BaseException):
    """Stands for a kill in the middle of writing the weights."""


@pytest.fixture
def gguf_from_tiny(monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tmp_path: Path) -> Path:
    """Make `from_pretrained(..., gguf_file=...)` read the tiny model folder, so conversion runs for real on it."""
    real_model, real_tok = AutoModel.from_pretrained, AutoTokenizer.from_pretrained

    def model_loader(source, gguf_file=None, **kwargs):
        return real_model(tiny_model_dir if gguf_file else source, **kwargs)

    def tok_loader(source, gguf_file=None, **kwargs):
        return real_tok(tiny_model_dir if gguf_file else source, **kwargs)

    monkeypatch.setattr(loading.AutoModel, "from_pretrained", model_loader)
    monkeypatch.setattr(loading.AutoTokenizer, "from_pretrained", tok_loader)
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    return gguf


def test_interrupted_conversion_leaves_no_cache(gguf_from_tiny: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cache" / "tiny"

    def die(*args, **kwargs):
        raise Interrupted

    with monkeypatch.context() as m:
        m.setattr(loading, "save_file", die)
        with pytest.raises(Interrupted):
            loading.convert_gguf(gguf_from_tiny, target)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the temporary folder was removed too

    loading.convert_gguf(gguf_from_tiny, target)
    assert (target / "config.json").exists() and (target / "model.safetensors").exists()
    model = AutoModel.from_pretrained(target)
    assert not any(k.startswith("lm_head") for k in model.state_dict())
    assert oct(target.stat().st_mode & 0o777) == "0o755"


def test_conversion_is_reused(gguf_from_tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = loading.convert_gguf(gguf_from_tiny, tmp_path / "tiny")
    monkeypatch.setattr(loading, "save_file", lambda *a, **k: pytest.fail("converted twice"))
    assert loading.convert_gguf(gguf_from_tiny, target) == target


def test_gguf_path_must_exist(tmp_path: Path) -> None:
    with pytest.raises(loading.ModelNotFoundError, match="GGUF file not found"):
        loading.resolve(tmp_path / "missing.gguf")


def test_the_cache_is_the_one_given_else_the_xdg_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from embedder.settings import EmbedderSettings

    monkeypatch.setenv("ECHO_SEARCH_CACHE", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert loading.cache_dir(tmp_path / "given") == tmp_path / "given"
    assert loading.cache_dir() == tmp_path / "xdg" / "echo-search"  # the library reads no ECHO_SEARCH_* variable
    assert EmbedderSettings().cache_dir() == tmp_path / "env"  # the settings (an entry point's) do
