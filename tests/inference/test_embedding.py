"""Embedding storage: float16 safetensors bytes that refuse to load when wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save

from inference import EmbeddingError, Prompt
from inference.embedding import Embedding, embedding_from_bytes, embedding_to_bytes
from inference.masks import rle_decode
from inference.model import SegmentationModel


def test_it_round_trips_through_bytes(model: SegmentationModel, embedding: Embedding) -> None:
    data = embedding_to_bytes(embedding)
    back = embedding_from_bytes(data, model.spec)
    assert (back.spec, back.family) == (embedding.spec, embedding.family)
    assert back.original_size == embedding.original_size == (600, 900)
    assert back.input_size == embedding.input_size
    assert back.tensors.keys() == embedding.tensors.keys()
    for name, tensor in embedding.tensors.items():
        assert back.tensors[name].dtype == torch.float16
        assert torch.equal(back.tensors[name], tensor.to(torch.float16))
    # Serialising again loses nothing more (metadata key order may vary, so compare
    # the parsed result).
    again = embedding_from_bytes(embedding_to_bytes(back), model.spec)
    assert all(torch.equal(again.tensors[k], v) for k, v in back.tensors.items())


def test_stored_size_is_float16(model: SegmentationModel, embedding: Embedding) -> None:
    data = embedding_to_bytes(embedding)
    payload = sum(t.numel() for t in embedding.tensors.values()) * 2
    assert payload < len(data) < payload + 2048
    expected = {"sam": 2 * 256 * 64 * 64, "sam2": 2 * (256 * 64 * 64 + 32 * 256**2 + 64 * 128**2)}
    assert payload == expected[model.family]


def test_a_round_tripped_embedding_decodes_like_the_original(
    model: SegmentationModel, embedding: Embedding
) -> None:
    back = model.embedding_from_bytes(embedding_to_bytes(embedding))
    prompt = Prompt.click(450, 300)
    original = model.decode(embedding, prompt)
    restored = model.decode(back, prompt)
    assert len(original) == len(restored) == 3
    for a, b in zip(original, restored, strict=True):
        assert abs(a.score - b.score) < 0.02  # float16 storage, small drift only
        assert (rle_decode(a.rle) == rle_decode(b.rle)).mean() > 0.99


def test_any_spelling_of_a_registry_spec_is_the_same_model() -> None:
    embedding = Embedding(
        "sam-vit-base",
        "sam",
        (600, 900),
        (683, 1024),
        {"image_embeddings": torch.zeros(1, 256, 64, 64)},
    )
    back = embedding_from_bytes(embedding_to_bytes(embedding), "facebook/sam-vit-base")
    assert back.spec == "sam-vit-base"


def test_it_rejects_another_models_embedding(sam_embedding: Embedding) -> None:
    data = embedding_to_bytes(sam_embedding)
    with pytest.raises(EmbeddingError, match=r"computed by model '.*', not 'sam-vit-base'"):
        embedding_from_bytes(data, "sam-vit-base")


def test_it_rejects_truncated_data(sam_embedding: Embedding) -> None:
    data = embedding_to_bytes(sam_embedding)
    for cut in (0, 5, 100, len(data) // 2, len(data) - 1):
        with pytest.raises(EmbeddingError, match="truncated"):
            embedding_from_bytes(data[:cut], sam_embedding.spec)


def test_it_detects_corrupted_tensor_bytes(sam_embedding: Embedding) -> None:
    data = bytearray(embedding_to_bytes(sam_embedding))
    data[-1000] ^= 0x01  # flip one bit of one float16 mantissa
    with pytest.raises(EmbeddingError, match="checksum"):
        embedding_from_bytes(bytes(data), sam_embedding.spec)


def test_it_rejects_garbage_and_foreign_safetensors(sam_embedding: Embedding) -> None:
    spec = sam_embedding.spec
    with pytest.raises(EmbeddingError, match="truncated or not a safetensors"):
        embedding_from_bytes(b"\xff" * 64, spec)
    with pytest.raises(EmbeddingError, match="unreadable header"):
        embedding_from_bytes((10).to_bytes(8, "little") + b"not json!!" + b"\0" * 8, spec)
    foreign = st_save({"weight": torch.zeros(4)})
    with pytest.raises(EmbeddingError, match="no metadata"):
        embedding_from_bytes(foreign, spec)
    other_format = st_save({"weight": torch.zeros(4)}, metadata={"format": "pt"})
    with pytest.raises(EmbeddingError, match="not an Anymask embedding"):
        embedding_from_bytes(other_format, spec)
    with pytest.raises(EmbeddingError, match="must be bytes"):
        embedding_from_bytes("text", spec)  # type: ignore[arg-type]


def _rewrite(data: bytes, **changes: str) -> bytes:
    """The same blob with some metadata strings changed (tensor bytes untouched)."""
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    header["__metadata__"].update(changes)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # keep the 8-byte alignment safetensors wants
    return len(encoded).to_bytes(8, "little") + encoded + data[8 + length :]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": "0"}, "format version '0' is not supported"),
        ({"family": "sam3"}, "unknown model family"),
        ({"original_size": "600"}, "not 'height,width'"),
        ({"original_size": "0,900"}, "not a positive size"),
        ({"input_size": "600,900"}, "sizes are inconsistent"),
        ({"family": "sam2"}, "do not match"),
    ],
)
def test_it_rejects_tampered_metadata(
    sam_embedding: Embedding, changes: dict[str, str], message: str
) -> None:
    data = _rewrite(embedding_to_bytes(sam_embedding), **changes)
    with pytest.raises(EmbeddingError, match=message):
        embedding_from_bytes(data, sam_embedding.spec)


def test_it_checks_registry_specs_against_their_family_and_shapes(
    sam_embedding: Embedding,
) -> None:
    data = _rewrite(embedding_to_bytes(sam_embedding), spec="sam2.1-hiera-tiny")
    with pytest.raises(EmbeddingError, match=r"'sam2\.1-hiera-tiny' is a 'sam2' model"):
        embedding_from_bytes(data, "sam2.1-hiera-tiny")
    small = Embedding(
        "sam-vit-base",
        "sam",
        (600, 900),
        (683, 1024),
        {"image_embeddings": torch.zeros(1, 64, 64, 64)},
    )
    with pytest.raises(EmbeddingError, match="do not match 'sam-vit-base'"):
        embedding_from_bytes(embedding_to_bytes(small), "sam-vit-base")


def test_it_refuses_values_float16_cannot_hold(sam_embedding: Embedding) -> None:
    huge = Embedding(
        sam_embedding.spec,
        "sam",
        sam_embedding.original_size,
        sam_embedding.input_size,
        {"image_embeddings": torch.full((1, 256, 64, 64), 1e6)},
    )
    with pytest.raises(EmbeddingError, match="float16 range"):
        embedding_to_bytes(huge)


def test_the_model_rejects_an_embedding_it_did_not_make(
    sam_model: SegmentationModel, sam_embedding: Embedding
) -> None:
    stranger = Embedding("elsewhere", "sam", (600, 900), (683, 1024), dict(sam_embedding.tensors))
    with pytest.raises(EmbeddingError, match="computed by 'elsewhere'"):
        sam_model.decode(stranger, Prompt.click(10, 10))
    wrong_shape = Embedding(
        sam_model.spec,
        "sam",
        (600, 900),
        (683, 1024),
        {"image_embeddings": torch.zeros(1, 256, 32, 32)},
    )
    with pytest.raises(EmbeddingError, match="do not fit"):
        sam_model.decode(wrong_shape, Prompt.click(10, 10))


def test_repr_shows_shapes_not_values(embedding: Embedding) -> None:
    text = repr(embedding)
    assert "image_embeddings=(1, 256, 64, 64)" in text and "tensor(" not in text
    assert embedding.nbytes == sum(t.numel() * t.element_size() for t in embedding.tensors.values())
    assert np.prod(embedding.tensors["image_embeddings"].shape) == 256 * 64 * 64
