"""The encoder's steps as plain TensorFlow ops on `[tokens, hidden]` matrices of real tokens.

Every dense layer is a 2-D `MatMul` followed by `BiasAdd` (and GELU, or the residual `AddV2`),
the shapes TensorFlow's oneDNN remapper fuses into one `_MklFusedMatMul`; transformers' Dense
layers on `[batch, length, hidden]` tensors go through a reshape that keeps them apart. The
attention scores are scaled after the batched matmul and the mask added to them, which the
remapper fuses into `_MklFusedBatchMatMulV2`. Padding is left out of every step but the
attention scores (`TokenLayout`): in batches of texts of mixed lengths that saves most of the
work, and the gathers cost less than the padding they skip even in length-sorted batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

MASKED = -10000.0  # what transformers' TF BERT adds to the scores of padding


def activation_fn(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The activation a `weights.ACTIVATIONS` name stands for."""
    return {"gelu": lambda x: tf.nn.gelu(x, approximate=False),
            "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
            "relu": tf.nn.relu, "tanh": tf.tanh}[name]


def dense(x: tf.Tensor, kernel: tf.Variable, bias: tf.Variable) -> tf.Tensor:
    return tf.nn.bias_add(tf.matmul(x, kernel), bias)


def layer_norm(x: tf.Tensor, gamma: tf.Variable, beta: tf.Variable, epsilon: float) -> tf.Tensor:
    """LayerNorm over the last axis, computed in float32 whatever `x` is, returned as `x`'s dtype."""
    wide = tf.cast(x, tf.float32)
    mean = tf.reduce_mean(wide, axis=-1, keepdims=True)
    centred = wide - mean
    variance = tf.reduce_mean(tf.square(centred), axis=-1, keepdims=True)
    return tf.cast(centred * tf.math.rsqrt(variance + epsilon) * gamma + beta, x.dtype)


def attention_bias(attention_mask: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """`[batch, 1, 1, length]`: 0 where a token may be attended to, MASKED at padding.

    Made with a reshape: the remapper fuses the scores' scale and this add into the batched
    matmul only then (with `mask[:, None, None, :]` it did not).
    """
    shape = tf.shape(attention_mask)
    bias = (1.0 - tf.cast(attention_mask, dtype)) * tf.constant(MASKED, dtype)
    return tf.reshape(bias, [shape[0], 1, 1, shape[1]])


@dataclass(frozen=True)
class TokenLayout:
    """Where a padded batch's real tokens are, so that everything but attention skips padding.

    `real`: the flat positions (in `[batch * length]`) of the tokens computed, each row's first
    always among them; `back`: for every flat position its row in the packed `[tokens, ...]`
    matrix, padding pointing at one extra zero row; `starts`: each text's first token's row.
    """

    batch: tf.Tensor
    length: tf.Tensor
    real: tf.Tensor
    back: tf.Tensor
    starts: tf.Tensor


def token_layout(attention_mask: tf.Tensor) -> TokenLayout:
    """The layout of `attention_mask`'s real tokens (a row of zeros still computes its first)."""
    shape = tf.shape(attention_mask)
    mask = tf.cast(attention_mask, tf.int32)
    first_column = tf.one_hot(tf.zeros([shape[0]], tf.int32), shape[1], dtype=tf.int32)
    kept = tf.reshape(tf.maximum(mask, first_column), [-1])
    real = tf.cast(tf.where(kept > 0)[:, 0], tf.int32)
    back = tf.where(kept > 0, tf.cumsum(kept, exclusive=True), tf.size(real))
    starts = tf.cumsum(tf.reduce_sum(tf.reshape(kept, shape), axis=1), exclusive=True)
    return TokenLayout(shape[0], shape[1], real, back, starts)


def pack(padded: tf.Tensor, layout: TokenLayout) -> tf.Tensor:
    """`[batch * length, ...]` -> `[tokens, ...]`: the real tokens only."""
    return tf.gather(padded, layout.real)


def unpack(packed: tf.Tensor, layout: TokenLayout) -> tf.Tensor:
    """`[tokens, width]` -> `[batch * length, width]`, zeros at padding (a gather: faster here than
    a scatter into zeros)."""
    zero = tf.zeros([1, tf.shape(packed)[1]], packed.dtype)
    return tf.gather(tf.concat([packed, zero], axis=0), layout.back)


def self_attention(x: tf.Tensor, qkv: tuple, layout: TokenLayout, heads: int,
                   bias: tf.Tensor) -> tf.Tensor:
    """Multi-head self-attention of the packed tokens `x` (`[tokens, hidden]`), before the output
    layer; `qkv` is the joined query/key/value kernel and bias.

    The projections run on real tokens only; the scores need the padded grid, so the joined
    projections are unpacked for them and the context packed again. Returns the heads' outputs
    side by side, `[tokens, hidden]`.
    """
    hidden = qkv[0].shape[0]
    size = hidden // heads
    joined = unpack(dense(x, *qkv), layout)  # [batch * length, 3 * hidden]
    joined = tf.reshape(joined, [layout.batch, layout.length, 3, heads, size])
    joined = tf.transpose(joined, [2, 0, 3, 1, 4])
    query, key, value = joined[0], joined[1], joined[2]  # [batch, heads, length, size]
    scale = tf.constant(size ** -0.5, x.dtype)
    scores = tf.matmul(query, key, transpose_b=True) * scale + bias
    context = tf.matmul(tf.nn.softmax(scores, axis=-1), value)
    context = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [-1, hidden])
    # Packed with the same indices as `x`: grappler then sees both sides of the residual add are
    # one shape and fuses the add into the output layer's MatMul.
    return pack(context, layout)


def first_token_attention(x: tf.Tensor, qkv: tuple, layout: TokenLayout, heads: int,
                          bias: tf.Tensor) -> tf.Tensor:
    """Self-attention of each text's first token only (`[batch, hidden]`, before the output
    layer): all a classifier's last layer needs, since its head reads the first token alone.

    Keys and values are still projected for every real token; the query, the scores (one row
    per head instead of `length`), the output layer and the feed-forward block shrink to one
    token per text.
    """
    kernel, joined_bias = qkv
    hidden = kernel.shape[0]
    size = hidden // heads
    keys_values = unpack(dense(x, kernel[:, hidden:], joined_bias[hidden:]), layout)
    keys_values = tf.reshape(keys_values, [layout.batch, layout.length, 2, heads, size])
    keys_values = tf.transpose(keys_values, [2, 0, 3, 1, 4])  # [2, batch, heads, length, size]
    first = tf.gather(x, layout.starts)
    query = tf.reshape(dense(first, kernel[:, :hidden], joined_bias[:hidden]),
                       [layout.batch, heads, 1, size])
    scale = tf.constant(size ** -0.5, x.dtype)
    scores = tf.matmul(query, keys_values[0], transpose_b=True) * scale + bias
    context = tf.matmul(tf.nn.softmax(scores, axis=-1), keys_values[1])  # [batch, heads, 1, size]
    # The residual add after the output layer stays unfused here (grappler cannot prove the two
    # sides' shapes equal): on one token per text it costs next to nothing.
    return tf.reshape(context, [layout.batch, hidden])
