"""FLOP arithmetic of a BERT encoder and the batch shapes it is applied to (no TensorFlow, no tfbert)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FLOPS_FORMULA = (
    "training FLOPs per token = 6*N + 12*L*S*H; inference 2*N + 4*L*S*H; N = L*(4*H^2 + 2*H*I) "
    "(the weight matrices of the Q/K/V/output projections and the feed-forward block; embeddings, "
    "biases, LayerNorm, pooler and head left out), L layers, H hidden size, I intermediate size, "
    "S the sequence length: the example's real length for model FLOPs (MFU), the padded batch "
    "length for hardware FLOPs (HFU)"
)


@dataclass(frozen=True)
class EncoderShape:
    """The sizes of a BERT encoder that its FLOPs depend on."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_model_dir(cls, path: str | Path) -> EncoderShape:
        """Reads the sizes from a model folder's `config.json`."""
        config = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
        return cls(config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"])

    @property
    def dense_params(self) -> int:
        """Weights every token passes through: Q, K, V, output projections and the feed-forward pair."""
        return self.layers * (4 * self.hidden ** 2 + 2 * self.hidden * self.intermediate)

    def flops(self, tokens: float, length_weighted_tokens: float, training: bool = True) -> float:
        """FLOPs of `tokens` tokens; `length_weighted_tokens` sums each token's sequence length.

        Per token: 2N for the dense layers plus 4*L*S*H for attention scores and values in a
        forward pass; a training step costs three forward passes (forward, two for backward).
        """
        factor = 3 if training else 1
        return factor * (2 * self.dense_params * tokens
                         + 4 * self.layers * self.hidden * length_weighted_tokens)

    def flops_per_token(self, seq_len: int, training: bool = True) -> float:
        return self.flops(1, seq_len, training)


@dataclass(frozen=True)
class BatchStats:
    """One batch as the model saw it: rows, padded length, real tokens and sum of squared lengths."""

    rows: int
    length: int
    real: int
    real_sq: int

    @classmethod
    def from_mask(cls, mask) -> BatchStats:
        """Reads the figures off a batch's attention mask (rows x padded length, 1 = real token)."""
        mask = np.asarray(mask)
        lengths = mask.sum(axis=1).astype(np.int64)
        return cls(int(mask.shape[0]), int(mask.shape[1]), int(lengths.sum()), int((lengths ** 2).sum()))

    @property
    def computed(self) -> int:
        return self.rows * self.length

    @property
    def token_counts(self) -> tuple[int, int]:
        """(real, computed) tokens, as `tfbert.features.padding_efficiency` reads them."""
        return self.real, self.computed

    def as_list(self) -> list[int]:
        return [self.rows, self.length, self.real, self.real_sq]


def batch_flops(batches: list[BatchStats], encoder: EncoderShape, training: bool = True
                ) -> tuple[float, float]:
    """(model FLOPs on real tokens, hardware FLOPs on padded tokens) over the batches."""
    model = sum(encoder.flops(b.real, b.real_sq, training) for b in batches)
    hardware = sum(encoder.flops(b.computed, b.rows * b.length ** 2, training) for b in batches)
    return model, hardware
