"""The sentence-encoder text tower (model=nano_minilm): real pretrained weights from a package, batch-invariant
cached embeddings, only a projection that trains and is saved, clear errors for a missing encoder."""

import hashlib
import os

import pytest
import torch
from open_clip.tokenizer import SimpleTokenizer

from clipmem.config import instantiate_checked
from clipmem.errors import ConfigError
from clipmem.models import sentence_text
from clipmem.models.local_dir import load_local_dir, save_local_dir
from clipmem.models.sentence_text import SENTENCE_ENCODERS, caption_text, check_weights, encode_captions, encoder_dir

from .conftest import compose_config

CAPTIONS = ["A cat.", "A kitten sleeping on a sofa.", "A red truck.", "Grinning face with big eyes",
            "A basketball.", "An orange ball for sport."]


@pytest.fixture(scope="module")
def minilm():
    return instantiate_checked(compose_config(["model=nano_minilm"]).model)


def _tokens(module, captions):
    return SimpleTokenizer(context_length=module.hparams.context_length)(captions)


def test_pretrained_encoder_knows_meaning(minilm):
    """Random weights put every two captions at a similarity near 0.9 (seen: 0.89-0.97 for these): the real
    encoder places a kitten nearer a cat than a truck, a basketball nearer a ball, and unrelated captions apart."""
    e = minilm.clip.text.sentence_embeddings(_tokens(minilm, CAPTIONS))
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.1
    assert sim[4, 5] > sim[4, 2] + 0.3
    assert sim[1, 3] < 0.3
    assert torch.allclose(e.norm(dim=-1), torch.ones(len(CAPTIONS)), atol=1e-5)


def test_embedding_does_not_depend_on_its_batch():
    """Bit for bit with one thread (forked workers); to float precision with more (matrix blocking)."""
    path = encoder_dir("minilm")
    threads = torch.get_num_threads()
    try:
        for count in sorted({1, threads}):
            torch.set_num_threads(count)
            together = encode_captions(path, dict(enumerate(CAPTIONS)))
            for i, caption in enumerate(CAPTIONS):
                alone = encode_captions(path, {0: caption})[0]
                assert torch.equal(alone, together[i]) if count == 1 else torch.allclose(alone, together[i], atol=1e-6)
    finally:
        torch.set_num_threads(threads)


def test_many_captions_of_one_length_are_encoded_in_bounded_batches_with_progress(monkeypatch, caplog):
    path = encoder_dir("minilm")
    captions = {i: f"A photo of item {i}." for i in range(5)}  # one encoder length
    whole = encode_captions(path, captions)
    monkeypatch.setattr(sentence_text, "CAPTION_BATCH", 2)
    caplog.set_level("INFO")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        batched, alone = encode_captions(path, captions), {i: encode_captions(path, {i: c})[i]
                                                           for i, c in captions.items()}
    finally:
        torch.set_num_threads(threads)
    assert all(torch.allclose(batched[i], whole[i], atol=1e-6) and torch.equal(batched[i], alone[i])
               for i in captions)
    assert "text tower: encoding 5 captions: 3 batch ..." in caplog.text  # 2 + 2 + 1


def test_caption_is_read_back_from_clip_tokens(minilm):
    tokens = _tokens(minilm, ["A Cat, on a mat."])
    assert caption_text(tokens[0]) == "a cat , on a mat ."


def test_only_the_projection_trains_and_is_saved(minilm, tmp_path):
    names = [n for n, _ in minilm.clip.named_parameters() if n.startswith("text.")]
    assert sorted(names) == ["text.norm.bias", "text.norm.weight", "text.proj.weight"]
    tokens = _tokens(minilm, CAPTIONS)
    features = minilm.encode_text(tokens)
    assert features.shape == (len(CAPTIONS), minilm.model_cfg["embed_dim"])
    features.sum().backward()
    assert minilm.clip.text.proj.weight.grad.abs().sum() > 0

    save_local_dir(minilm.clip, minilm.model_cfg, tmp_path / "m", {"role": "test"})
    loaded, cfg, _ = load_local_dir(tmp_path / "m")
    assert cfg["text_cfg"]["sentence_encoder"] == "minilm"
    with torch.no_grad():
        assert torch.allclose(loaded.encode_text(tokens, normalize=True), minilm.encode_text(tokens), atol=1e-6)


def test_unknown_encoder_is_named_with_the_choices():
    with pytest.raises(ConfigError, match=r"sentence_encoder='bert-huge'.*minilm"):
        overrides = ["model=nano_minilm", "model.arch.text_cfg.sentence_encoder=bert-huge"]
        instantiate_checked(compose_config(overrides).model)


def test_weights_other_than_the_pinned_ones_are_refused(tmp_path):
    damaged = tmp_path / "model.safetensors"
    damaged.write_bytes(b"not the weights")
    with pytest.raises(ConfigError, match=r"model.safetensors: sha256 .* is not the pinned"):
        check_weights(str(damaged), SENTENCE_ENCODERS["minilm"][2])
    with pytest.raises(ConfigError, match="cannot be read"):
        check_weights(str(tmp_path / "missing.safetensors"), SENTENCE_ENCODERS["minilm"][2])


def test_weights_changed_after_a_check_are_refused_again(tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"first weights")
    pinned = hashlib.sha256(b"first weights").hexdigest()
    check_weights(str(weights), pinned)
    check_weights(str(weights), pinned)  # verified: not read again
    weights.write_bytes(b"other weights")  # same size, new content
    stat = os.stat(weights)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new time even on a coarse clock
    with pytest.raises(ConfigError, match="is not the pinned"):
        check_weights(str(weights), pinned)
