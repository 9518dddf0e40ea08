"""The encoder's steps as plain TensorFlow ops on `[tokens, hidden]` matrices.

Every dense layer is a 2-D `MatMul` followed by `BiasAdd` (and GELU, or the residual `AddV2`),
the shapes TensorFlow's oneDNN remapper fuses into one `_MklFusedMatMul`; transformers' Dense
layers on `[batch, length, hidden]` tensors go through a reshape that keeps them apart. The
attention scores are scaled after the batched matmul and the mask added to them, which the
remapper fuses into `_MklFusedBatchMatMulV2`.
"""

from __future__ import annotations

from collections.abc import Callable

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


def self_attention(x: tf.Tensor, qkv: tuple, shape: tuple, bias: tf.Tensor) -> tf.Tensor:
    """Multi-head self-attention of `x` (`[batch * length, hidden]`), before the output layer.

    `shape` is (batch, length, heads, head size); `qkv` the joined query/key/value kernel and bias.
    Returns the heads' outputs side by side, `[batch * length, hidden]`.
    """
    batch, length, heads, size = shape
    joined = dense(x, *qkv)  # [batch * length, 3 * hidden]
    joined = tf.transpose(tf.reshape(joined, [batch, length, 3, heads, size]), [2, 0, 3, 1, 4])
    query, key, value = joined[0], joined[1], joined[2]  # [batch, heads, length, size]
    scale = tf.constant(size ** -0.5, x.dtype)
    scores = tf.matmul(query, key, transpose_b=True) * scale + bias
    context = tf.matmul(tf.nn.softmax(scores, axis=-1), value)
    # Shaped as `x` itself (not [batch * length, hidden]), so that grappler sees both sides of the
    # residual add are one shape and fuses the add into the output layer's MatMul.
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), tf.shape(x))
