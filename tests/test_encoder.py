"""The fast encoder against transformers' own TF layers: same logits for every covered architecture,
in float32 and bfloat16, and the oneDNN fusions it is shaped for."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfbert.encoder.module import FastEncoder, build_fast_encoder
from tfbert.encoder.weights import UnsupportedArchitectureError, read_weights
from tfbert.predict import make_logits_fn

SIZES = dict(vocab_size=120, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=32, max_position_embeddings=40, num_labels=3,
             initializer_range=0.4)  # wide weights: logits of order 1, not 0.01
ARCHITECTURES = {
    "bert": {},
    "bert-gelu-tanh": {"hidden_act": "gelu_new"},
    "roberta": {"pad_token_id": 1},
    "xlm-roberta": {"pad_token_id": 1, "type_vocab_size": 1},
    "electra": {"embedding_size": 8},  # a projection from the embedding size to the hidden size
    "distilbert": {},
}
# bfloat16 keeps 8 significant bits (relative step 2**-8); two layers and a head of such roundings
# stay well within this share of the logits' own size.
BFLOAT16_SHARE = 0.08


def tiny_model(name: str, seed: int = 0):
    import transformers

    from tfbert.base.keras import keras

    keras.utils.set_random_seed(seed)
    kind = name.split("-gelu")[0]
    extra = ARCHITECTURES[name]
    if kind == "distilbert":
        sizes = dict(vocab_size=120, dim=16, n_layers=2, n_heads=2, hidden_dim=32,
                     max_position_embeddings=40, num_labels=3, initializer_range=0.4)
    else:
        sizes = SIZES
    config = transformers.AutoConfig.for_model(kind, **{**sizes, **extra})
    model = transformers.TFAutoModelForSequenceClassification.from_config(config)
    model(model.dummy_inputs)
    return model


def padded_batch(model, seed: int = 1) -> dict:
    """Four rows of different lengths (one a single token), padding and two segments."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, 120, size=(4, 13)).astype(np.int32)
    mask = np.ones_like(ids)
    for row, length in enumerate((13, 7, 3, 1)):
        mask[row, length:] = 0
    pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    ids[mask == 0] = pad
    features = {"input_ids": tf.constant(ids), "attention_mask": tf.constant(mask)}
    if getattr(model.config, "type_vocab_size", 0):
        types = np.zeros_like(ids)
        if model.config.type_vocab_size > 1:
            types[:, 5:] = 1
        features["token_type_ids"] = tf.constant(types * mask)
    return features


def reference_logits(model, features) -> np.ndarray:
    return model(features, training=False).logits.numpy()


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_float32_logits_equal_transformers(name):
    model = tiny_model(name)
    features = padded_batch(model)
    expected = reference_logits(model, features)
    got = tf.function(build_fast_encoder(model, "float32"))(features).numpy()
    assert np.abs(expected).max() > 0.1  # the comparison is not between near-zeros
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["bert", "roberta", "distilbert"])
def test_bfloat16_logits_stay_within_its_rounding(name):
    model = tiny_model(name)
    features = padded_batch(model)
    expected = reference_logits(model, features)
    encoder = build_fast_encoder(model, "bfloat16")
    assert encoder.variables_by_name["layer_0.qkv.kernel"].dtype == tf.bfloat16
    assert encoder.variables_by_name["layer_0.attention_norm.gamma"].dtype == tf.float32
    assert encoder.variables_by_name["head.out.kernel"].dtype == tf.float32
    got = tf.function(encoder)(features).numpy()
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=BFLOAT16_SHARE * np.abs(expected).max())


def test_padding_and_neighbours_do_not_change_a_rows_logits():
    model = tiny_model("bert")
    features = padded_batch(model)
    encoder = tf.function(build_fast_encoder(model, "float32"))
    together = encoder(features).numpy()
    for row, length in enumerate((13, 7, 3, 1)):
        alone = {k: v[row:row + 1, :length] for k, v in features.items()}
        np.testing.assert_allclose(encoder(alone).numpy()[0], together[row], atol=1e-5)


def test_load_copies_trained_weights_in():
    model = tiny_model("bert")
    features = padded_batch(model)
    encoder = build_fast_encoder(model, "float32")
    before = encoder(features).numpy()
    for variable in model.trainable_variables:  # as an optimizer step would
        variable.assign(variable * 1.1)
    assert not np.allclose(encoder(features).numpy(), reference_logits(model, features), atol=1e-3)
    encoder.load(read_weights(model))
    np.testing.assert_allclose(encoder(features).numpy(), reference_logits(model, features),
                               atol=1e-5, rtol=1e-5)
    assert not np.allclose(before, encoder(features).numpy(), atol=1e-3)


def test_an_uncovered_architecture_runs_the_models_own_layers():
    import transformers

    config = transformers.AlbertConfig(**{**SIZES, "embedding_size": 8})
    model = transformers.TFAlbertForSequenceClassification(config)
    model(model.dummy_inputs)
    with pytest.raises(UnsupportedArchitectureError, match="albert"):
        read_weights(model)
    logits_fn = make_logits_fn(model, "bfloat16")
    assert not logits_fn.fast
    features = padded_batch(model)
    np.testing.assert_allclose(logits_fn(features).numpy(), reference_logits(model, features),
                               atol=1e-5)


def test_the_logits_function_follows_the_models_policy_and_refreshes():
    model = tiny_model("bert")
    logits_fn = make_logits_fn(model)
    assert logits_fn.fast and logits_fn.compute_dtype == "float32"
    features = padded_batch(model)
    for variable in model.trainable_variables:
        variable.assign(variable * 0.9)
    logits_fn.refresh()
    np.testing.assert_allclose(logits_fn(features).numpy(), reference_logits(model, features),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["bert", "roberta", "distilbert"])
def test_the_last_layer_on_first_tokens_only_gives_the_same_logits(name):
    """The head reads each text's first token: computing the last layer for it alone (the
    default) must give what the whole last layer gives."""
    model = tiny_model(name)
    features = padded_batch(model)
    weights = read_weights(model)
    short = FastEncoder(weights, "float32")(features).numpy()
    whole = FastEncoder(weights, "float32", first_token_last_layer=False)(features).numpy()
    np.testing.assert_allclose(short, whole, atol=1e-6, rtol=1e-5)
    assert not np.allclose(short, 0.0)


def test_compute_dtype_is_checked():
    model = tiny_model("bert")
    with pytest.raises(ValueError, match="compute dtype"):
        FastEncoder(read_weights(model), "float16")


def _optimized_graph_ops(model, compute_dtype: str) -> list:
    """The nodes TensorFlow runs for the encoder after grappler and oneDNN rewrote the graph."""
    weights = read_weights(model)
    features = {k: v.numpy() for k, v in padded_batch(model).items()}
    graph = tf.Graph()
    with graph.as_default():
        placeholders = {k: tf.compat.v1.placeholder(tf.int32, [None, None], name=k) for k in features}
        logits = FastEncoder(weights, compute_dtype)(placeholders)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            metadata = tf.compat.v1.RunMetadata()
            session.run(logits, {placeholders[k]: v for k, v in features.items()},
                        options=tf.compat.v1.RunOptions(output_partition_graphs=True),
                        run_metadata=metadata)
    return [node for part in metadata.partition_graphs for node in part.node]


@pytest.mark.parametrize("compute_dtype", ["float32", "bfloat16"])
def test_every_dense_layer_runs_fused_with_its_bias(compute_dtype):
    """oneDNN fuses MatMul + BiasAdd (+ GELU or the residual add) only on 2-D inputs; a reshape in
    between would silently cost the speed this encoder exists for."""
    nodes = _optimized_graph_ops(tiny_model("bert"), compute_dtype)
    kinds = [node.op for node in nodes]
    assert "BiasAdd" not in kinds and "MatMul" not in kinds and "_MklMatMul" not in kinds
    fused = [[op.decode() for op in node.attr["fused_ops"].list.s] for node in nodes
             if node.op in ("_MklFusedMatMul", "_MklNativeFusedMatMul", "_FusedMatMul")]
    layers = 2
    # per layer: qkv (bias), attention output (bias + residual), up (bias + GELU), down (bias +
    # residual); the last layer's qkv is split into keys/values and the first tokens' query, and
    # its attention output (one token per text) keeps the residual add apart; then the head's
    # two dense layers
    assert len(fused) == 4 * layers + 1 + 2
    assert fused.count(["BiasAdd", "GeluExact"]) == layers
    assert fused.count(["BiasAdd", "Add"]) == 2 * layers - 1
    batched = [node for node in nodes if "BatchMatMul" in node.op]
    assert sum(node.op == "_MklFusedBatchMatMulV2" for node in batched) == layers  # scale + mask


def test_an_empty_batch_and_a_row_without_real_tokens():
    """The token-id signature takes any mask: no row means no logits, and a row of zeros still
    gives finite logits without changing its neighbours'."""
    model = tiny_model("bert")
    encoder = tf.function(build_fast_encoder(model, "float32"))
    features = padded_batch(model)
    empty = {k: v[:0] for k, v in features.items()}
    assert encoder(empty).shape == (0, 3)
    blanked = dict(features, attention_mask=tf.tensor_scatter_nd_update(
        features["attention_mask"], [[2, i] for i in range(13)], tf.zeros([13], tf.int32)))
    got = encoder(blanked).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(np.delete(got, 2, axis=0),
                               np.delete(encoder(features).numpy(), 2, axis=0), atol=1e-6)
