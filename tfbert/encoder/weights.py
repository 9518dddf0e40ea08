"""A fine-tuned transformers TF classifier's weights, read into one layout for every architecture.

BERT, RoBERTa, XLM-R, ELECTRA and DistilBERT are the same post-LayerNorm encoder under different
names; `read_weights` finds each piece under its architecture's name and returns NumPy arrays in
the layout `encoder.module` computes with (query, key and value side by side in one matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# transformers' activation names, and the ones the fast path computes exactly as transformers does.
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "relu": "relu", "tanh": "tanh"}
BERT_LIKE = ("bert", "roberta", "xlm-roberta", "camembert", "electra")
SUPPORTED = (*BERT_LIKE, "distilbert")
COMPUTE_DTYPES = ("float32", "bfloat16")  # what the fast path computes in


class UnsupportedArchitectureError(ValueError):
    """The fast forward pass does not reproduce this model; the transformers layers run it."""


@dataclass(frozen=True)
class Dense:
    kernel: np.ndarray  # [inputs, outputs]
    bias: np.ndarray


@dataclass(frozen=True)
class Norm:
    gamma: np.ndarray
    beta: np.ndarray
    epsilon: float


@dataclass(frozen=True)
class Block:
    """One encoder layer: attention (q, k, v in one matrix) and the feed-forward part, each
    followed by a residual add and a LayerNorm."""

    qkv: Dense
    attention_out: Dense
    attention_norm: Norm
    up: Dense
    down: Dense
    output_norm: Norm


@dataclass(frozen=True)
class Embeddings:
    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray | None
    norm: Norm
    projection: Dense | None = None  # ELECTRA's embedding size -> hidden size
    padding_idx: int | None = None  # RoBERTa: positions count real tokens from padding_idx + 1


@dataclass(frozen=True)
class Head:
    """The classifier on the first token: dense, activation, output layer."""

    dense: Dense
    activation: str
    out: Dense


@dataclass(frozen=True)
class EncoderWeights:
    model_type: str
    heads: int
    activation: str  # of the feed-forward layers, one of ACTIVATIONS' values
    embeddings: Embeddings
    blocks: tuple[Block, ...]
    head: Head


def _dense(layer) -> Dense:
    return Dense(layer.kernel.numpy(), layer.bias.numpy())


def _norm(layer) -> Norm:
    return Norm(layer.gamma.numpy(), layer.beta.numpy(), float(layer.epsilon))


def _joined(*denses: Dense) -> Dense:
    return Dense(np.concatenate([d.kernel for d in denses], axis=1),
                 np.concatenate([d.bias for d in denses]))


def _activation(config, name: str) -> str:
    kind = getattr(config, name, None)
    if not isinstance(kind, str) or kind not in ACTIVATIONS:
        raise UnsupportedArchitectureError(f"activation {kind!r} is not one the fast path computes")
    return ACTIVATIONS[kind]


def _main_layer(model):
    for name in ("bert", "roberta", "electra", "distilbert"):
        if hasattr(model, name):
            return getattr(model, name)
    raise UnsupportedArchitectureError(f"no encoder found in {type(model).__name__}")


def _bert_like_block(layer) -> Block:
    attention = layer.attention.self_attention
    return Block(
        qkv=_joined(_dense(attention.query), _dense(attention.key), _dense(attention.value)),
        attention_out=_dense(layer.attention.dense_output.dense),
        attention_norm=_norm(layer.attention.dense_output.LayerNorm),
        up=_dense(layer.intermediate.dense), down=_dense(layer.bert_output.dense),
        output_norm=_norm(layer.bert_output.LayerNorm))


def _bert_like(model, config) -> tuple[Embeddings, tuple[Block, ...], Head]:
    main = _main_layer(model)
    found = main.embeddings
    roberta_style = config.model_type in ("roberta", "xlm-roberta", "camembert")
    embeddings = Embeddings(
        word=found.weight.numpy(), position=found.position_embeddings.numpy(),
        token_type=found.token_type_embeddings.numpy(), norm=_norm(found.LayerNorm),
        projection=_dense(main.embeddings_project) if hasattr(main, "embeddings_project") else None,
        padding_idx=int(found.padding_idx) if roberta_style else None)
    blocks = tuple(_bert_like_block(layer) for layer in main.encoder.layer)
    if config.model_type == "bert":
        head = Head(_dense(main.pooler.dense), "tanh", _dense(model.classifier))
    elif config.model_type == "electra":  # dense, GELU, out_proj on the first token
        head = Head(_dense(model.classifier.dense), "gelu", _dense(model.classifier.out_proj))
    else:  # RoBERTa's classification head: dense, tanh, out_proj on <s>
        head = Head(_dense(model.classifier.dense), "tanh", _dense(model.classifier.out_proj))
    return embeddings, blocks, head


def _distilbert(model, config) -> tuple[Embeddings, tuple[Block, ...], Head]:
    main = model.distilbert
    embeddings = Embeddings(word=main.embeddings.weight.numpy(),
                            position=main.embeddings.position_embeddings.numpy(),
                            token_type=None, norm=_norm(main.embeddings.LayerNorm))
    blocks = []
    for layer in main.transformer.layer:
        attention = layer.attention
        blocks.append(Block(
            qkv=_joined(_dense(attention.q_lin), _dense(attention.k_lin), _dense(attention.v_lin)),
            attention_out=_dense(attention.out_lin), attention_norm=_norm(layer.sa_layer_norm),
            up=_dense(layer.ffn.lin1), down=_dense(layer.ffn.lin2),
            output_norm=_norm(layer.output_layer_norm)))
    head = Head(_dense(model.pre_classifier), "relu", _dense(model.classifier))
    return embeddings, tuple(blocks), head


def read_weights(model) -> EncoderWeights:
    """The weights of a built transformers TF sequence classifier, in the fast path's layout.

    Raises:
        UnsupportedArchitectureError: an architecture (or an option of one, such as relative
            position embeddings) that the fast path does not compute as transformers does.
    """
    config = model.config
    kind = config.model_type
    if kind not in SUPPORTED:
        raise UnsupportedArchitectureError(f"the fast path covers {', '.join(SUPPORTED)}; "
                                           f"not {kind}")
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        raise UnsupportedArchitectureError(f"{config.position_embedding_type} position embeddings")
    if not model.built:
        model(model.dummy_inputs)
    if kind == "distilbert":
        embeddings, blocks, head = _distilbert(model, config)
        activation, heads = _activation(config, "activation"), config.n_heads
    else:
        embeddings, blocks, head = _bert_like(model, config)
        activation, heads = _activation(config, "hidden_act"), config.num_attention_heads
    return EncoderWeights(kind, int(heads), activation, embeddings, blocks, head)
