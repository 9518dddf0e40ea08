"""`FastEncoder`: a classifier's forward pass with its weights in the compute dtype, as a `tf.Module`.

It holds copies of the weights as non-trainable variables (so it can be saved in a SavedModel on
its own) and `load` refreshes them from the model they were read from, e.g. after a training epoch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfbert.encoder.blocks import (
    TokenLayout,
    activation_fn,
    attention_bias,
    dense,
    first_token_attention,
    layer_norm,
    self_attention,
    token_layout,
)
from tfbert.encoder.weights import COMPUTE_DTYPES, EncoderWeights, read_weights


class FastEncoder(tf.Module):
    """Float32 logits `[batch, outputs]` from `{"input_ids", "attention_mask"[, "token_type_ids"]}`.

    The encoder's matrices are stored in `compute_dtype`; LayerNorm parameters and statistics,
    and the classification head, stay in float32.
    """

    def __init__(self, weights: EncoderWeights, compute_dtype: str = "float32",
                 first_token_last_layer: bool = True):
        super().__init__(name="fast_encoder")
        if compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(f"compute dtype must be one of {COMPUTE_DTYPES}, got {compute_dtype!r}")
        if not weights.blocks:
            raise ValueError("the encoder has no layers")
        self.compute_dtype = compute_dtype
        # False computes the last layer for every token, as transformers does (same logits):
        # kept for the benchmark that measures what skipping them saves.
        self.first_token_last_layer = first_token_last_layer
        self.model_type = weights.model_type
        self.heads = weights.heads
        self._activation = activation_fn(weights.activation)
        self._head_activation = activation_fn(weights.head.activation)
        self._epsilons = [b.attention_norm.epsilon for b in weights.blocks] + \
                         [b.output_norm.epsilon for b in weights.blocks]
        self._embedding_epsilon = weights.embeddings.norm.epsilon
        self._padding_idx = weights.embeddings.padding_idx
        self._has_token_types = weights.embeddings.token_type is not None
        self._has_projection = weights.embeddings.projection is not None
        self.variables_by_name = {name: tf.Variable(value, trainable=False, name=name.replace(".", "_"))
                                  for name, value in self._arrays(weights).items()}

    def _arrays(self, weights: EncoderWeights) -> dict[str, np.ndarray]:
        """Every weight by name, matrices in the compute dtype, LayerNorm parameters in float32."""
        wide = np.float32
        narrow = tf.dtypes.as_dtype(self.compute_dtype).as_numpy_dtype
        found = {}

        def add_dense(name, layer, dtype=narrow):
            found[f"{name}.kernel"] = layer.kernel.astype(dtype)
            found[f"{name}.bias"] = layer.bias.astype(dtype)

        def add_norm(name, norm):
            found[f"{name}.gamma"], found[f"{name}.beta"] = norm.gamma.astype(wide), norm.beta.astype(wide)

        emb = weights.embeddings
        found["embeddings.word"] = emb.word.astype(narrow)
        found["embeddings.position"] = emb.position.astype(narrow)
        if emb.token_type is not None:
            found["embeddings.token_type"] = emb.token_type.astype(narrow)
        add_norm("embeddings.norm", emb.norm)
        if emb.projection is not None:
            add_dense("embeddings.projection", emb.projection)
        for i, block in enumerate(weights.blocks):
            for part in ("qkv", "attention_out", "up", "down"):
                add_dense(f"layer_{i}.{part}", getattr(block, part))
            add_norm(f"layer_{i}.attention_norm", block.attention_norm)
            add_norm(f"layer_{i}.output_norm", block.output_norm)
        # The head is one token per text: float32 costs nothing there, and keeps a regression's
        # score or a calibrated probability from being rounded to bfloat16's 8 bits.
        add_dense("head.dense", weights.head.dense, wide)
        add_dense("head.out", weights.head.out, wide)
        return found

    @property
    def num_layers(self) -> int:
        return len(self._epsilons) // 2

    def load(self, weights: EncoderWeights) -> None:
        """Copies new values of the same weights in (same architecture and sizes)."""
        for name, value in self._arrays(weights).items():
            self.variables_by_name[name].assign(value)

    def _v(self, name: str) -> tf.Variable:
        return self.variables_by_name[name]

    def _pair(self, name: str) -> tuple[tf.Variable, tf.Variable]:
        return self._v(f"{name}.kernel"), self._v(f"{name}.bias")

    def _embed(self, input_ids: tf.Tensor, token_type_ids: tf.Tensor | None,
               layout: TokenLayout) -> tf.Tensor:
        """The embeddings of the layout's real tokens, `[tokens, hidden]`."""
        length = tf.shape(input_ids)[1]
        if self._padding_idx is None:
            positions = tf.broadcast_to(tf.range(length)[None, :], tf.shape(input_ids))
        else:  # RoBERTa: real tokens count from padding_idx + 1, padding keeps padding_idx
            real = tf.cast(tf.not_equal(input_ids, self._padding_idx), input_ids.dtype)
            positions = tf.cumsum(real, axis=1) * real + self._padding_idx

        def packed(ids):
            return tf.gather(tf.reshape(ids, [-1]), layout.real)

        x = tf.gather(self._v("embeddings.word"), packed(input_ids)) + \
            tf.gather(self._v("embeddings.position"), packed(positions))
        if self._has_token_types:
            types = tf.zeros_like(input_ids) if token_type_ids is None else token_type_ids
            x += tf.gather(self._v("embeddings.token_type"), packed(types))
        x = layer_norm(x, self._v("embeddings.norm.gamma"), self._v("embeddings.norm.beta"),
                       self._embedding_epsilon)
        return dense(x, *self._pair("embeddings.projection")) if self._has_projection else x

    def _norm(self, x: tf.Tensor, name: str, epsilon: float) -> tf.Tensor:
        return layer_norm(x, self._v(f"{name}.gamma"), self._v(f"{name}.beta"), epsilon)

    def __call__(self, features: dict) -> tf.Tensor:
        input_ids = tf.cast(features["input_ids"], tf.int32)
        dtype = tf.dtypes.as_dtype(self.compute_dtype)
        token_types = features.get("token_type_ids")
        layout = token_layout(features["attention_mask"])
        x = self._embed(input_ids, None if token_types is None else tf.cast(token_types, tf.int32),
                        layout)
        bias = attention_bias(features["attention_mask"], dtype)
        last = self.num_layers - 1
        for i in range(last):
            context = self_attention(x, self._pair(f"layer_{i}.qkv"), layout, self.heads, bias)
            x = self._block_rest(i, context, x)
        # The last layer on each text's first token only: the head reads nothing else.
        first = tf.gather(x, layout.starts)
        if self.first_token_last_layer:
            context = first_token_attention(x, self._pair(f"layer_{last}.qkv"), layout, self.heads,
                                            bias)
            first = self._block_rest(last, context, first)
        else:
            context = self_attention(x, self._pair(f"layer_{last}.qkv"), layout, self.heads, bias)
            first = tf.gather(self._block_rest(last, context, x), layout.starts)
        pooled = self._head_activation(dense(tf.cast(first, tf.float32), *self._pair("head.dense")))
        return dense(pooled, *self._pair("head.out"))

    def _block_rest(self, i: int, context: tf.Tensor, residual: tf.Tensor) -> tf.Tensor:
        """Layer `i` after its attention: output layer, residual, LayerNorm, feed-forward block."""
        name = f"layer_{i}"
        x = self._norm(dense(context, *self._pair(f"{name}.attention_out")) + residual,
                       f"{name}.attention_norm", self._epsilons[i])
        inner = self._activation(dense(x, *self._pair(f"{name}.up")))
        return self._norm(dense(inner, *self._pair(f"{name}.down")) + x,
                          f"{name}.output_norm", self._epsilons[self.num_layers + i])


def build_fast_encoder(model, compute_dtype: str = "float32") -> FastEncoder:
    """The fast forward pass of a transformers TF sequence classifier, in `compute_dtype`.

    Raises:
        UnsupportedArchitectureError: the architecture is not one the fast path reproduces.
    """
    return FastEncoder(read_weights(model), compute_dtype)
