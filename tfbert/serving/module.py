"""The serving module: a fine-tuned classifier behind named, typed TensorFlow entry points."""

from __future__ import annotations

import logging

import tensorflow as tf

from tfbert.encoder.module import FastEncoder, build_fast_encoder
from tfbert.encoder.weights import UnsupportedArchitectureError
from tfbert.model import output_names
from tfbert.serving.exported import TEXT_SIGNATURE
from tfbert.tasks.head import TaskHead
from tfbert.tasks.kinds import MULTI_LABEL, REGRESSION, task_of
from tfbert.tasks.windows import aggregate_in_graph
from tfbert.tokenizers import InGraphTokenizer, UnsupportedTokenizerError, in_graph_tokenizer

log = logging.getLogger(__name__)

TOKEN_IDS_SIGNATURE = "token_ids"


class KerasForward(tf.Module):
    """The model's own Keras layers as the export's forward pass (architectures the fast
    encoder does not cover)."""

    def __init__(self, model):
        super().__init__(name="keras_forward")
        self.model = model

    def __call__(self, features: dict) -> tf.Tensor:
        return self.model(features, training=False).logits


def serving_forward(model, compute_dtype: str) -> FastEncoder | KerasForward:
    """The fast encoder in `compute_dtype` where it covers the model, else the model itself
    (which then computes in the dtype policy it was built under)."""
    try:
        return build_fast_encoder(model, compute_dtype)
    except UnsupportedArchitectureError as err:
        log.info("the export runs the model's own layers: %s", err)
        return KerasForward(model)


class ServingModule(tf.Module):
    """The classifier behind named, typed entry points.

    Signatures (keyword inputs, for TF Serving and `signatures[...]`):
        serving_default(text)                           raw strings -> outputs
        serving_default(text, text_pair)                a pair model: two raw strings per row
        token_ids(input_ids, attention_mask, ...)       pre-tokenized int32 ids -> outputs
    Plain functions (one positional input, for Keras 3 `TFSMLayer(call_endpoint=...)`):
        classify_text(text) or, for pairs, classify_text({"text": ..., "text_pair": ...}),
        classify_token_ids({"input_ids": ..., ...})
    Outputs by task (`head.task`):
        single-label: probabilities (float32 [batch, classes]), logits, label_id (int32),
            label (string)
        regression: score (float32 [batch]), in the target's unit (standardisation undone)
        multi-label: probabilities (sigmoid, float32 [batch, labels]), labels_mask (bool
            [batch, labels], from the per-label thresholds), label_names (string [batch, labels])
        and, where raw texts are read as windows, windows (int32 [batch]: windows per text)
    Attributes that survive `tf.saved_model.load`, for clients that show them: `label_names`
    (string [labels]), `task` (string), `thresholds` (float32 [labels]; multi-label) and
    `max_length` (int32, tokens read per text, or per window; 0 without a text path) and
    `max_windows` (int32: windows read per raw text, 1 where texts are truncated) and
    `window_stride` (int32: tokens neighbouring windows share; 0 where texts are truncated).
    """

    def __init__(self, forward: FastEncoder | KerasForward, head: TaskHead,
                 input_names: tuple[str, ...], text_tokenizer: InGraphTokenizer | None,
                 temperature: float = 1.0, aggregate: str = "mean-logits"):
        super().__init__(name="tfbert_classifier")
        self.forward = forward
        self.head = head
        self.aggregate = aggregate  # how a text's windows become its answer (windowed tokenizer)
        self.text_tokenizer = text_tokenizer
        self.input_names = input_names
        # Variables, not constants: only variables are restored as attributes of the loaded object.
        self.label_names = tf.Variable(list(head.names), dtype=tf.string, trainable=False,
                                       name="label_names")
        self.task = tf.Variable(head.task, dtype=tf.string, trainable=False, name="task")
        self.thresholds = tf.Variable(list(head.thresholds) or [0.0] * len(head.names),
                                      dtype=tf.float32, trainable=False, name="thresholds")
        self.max_length = tf.Variable(text_tokenizer.max_length if text_tokenizer else 0,
                                      dtype=tf.int32, trainable=False, name="max_length")
        windows = text_tokenizer.windows if text_tokenizer else None
        self.max_windows = tf.Variable(windows[1] if windows else 1, dtype=tf.int32,
                                       trainable=False, name="max_windows")
        self.window_stride = tf.Variable(windows[0] if windows else 0, dtype=tf.int32,
                                         trainable=False, name="window_stride")
        self.temperature = tf.constant(float(temperature), tf.float32)
        id_spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in input_names}
        self.classify_token_ids = tf.function(self._classify_ids, input_signature=[id_spec])
        self.serve_token_ids = tf.function(self._serve_ids, input_signature=list(id_spec.values()))
        self.is_pair = bool(text_tokenizer is not None and text_tokenizer.is_pair)
        if text_tokenizer is not None:
            text_spec = tf.TensorSpec([None], tf.string, name="text")
            if self.is_pair:
                pair_spec = tf.TensorSpec([None], tf.string, name="text_pair")
                self.classify_text = tf.function(
                    self._classify_pair, input_signature=[{"text": text_spec, "text_pair": pair_spec}])
                self.serve_text = tf.function(self._serve_pair,
                                              input_signature=[text_spec, pair_spec])
            else:
                self.classify_text = tf.function(self._classify_text, input_signature=[text_spec])
                self.serve_text = self.classify_text

    def _outputs(self, features: dict) -> dict:
        return self._answer(tf.cast(self.forward(features), tf.float32))

    def _text_outputs(self, encoded: dict, texts: tf.Tensor) -> dict:
        """Outputs per text: a windowed tokenizer's windows run as one batch, then each text's
        are aggregated (`tasks.windows`)."""
        logits = tf.cast(self.forward({name: encoded[name] for name in self.input_names}),
                         tf.float32)
        if "window_text" not in encoded:
            return self._answer(logits)
        window_text, n_texts = encoded["window_text"], tf.size(texts)
        answer = self._answer(aggregate_in_graph(self.head.task, logits, window_text, n_texts,
                                                 self.aggregate))
        windows = tf.math.unsorted_segment_sum(tf.ones_like(window_text), window_text, n_texts)
        return {**answer, "windows": windows}

    def _answer(self, logits: tf.Tensor) -> dict:
        if self.head.task == REGRESSION:
            return {"score": logits[:, 0] * self.head.scale + self.head.mean}
        if self.head.task == MULTI_LABEL:
            probabilities = tf.sigmoid(logits)
            names = tf.tile(self.label_names[None, :], [tf.shape(logits)[0], 1])
            return {"probabilities": probabilities,
                    "labels_mask": probabilities >= self.thresholds[None, :],
                    "label_names": names}
        probabilities = tf.nn.softmax(logits / self.temperature, axis=-1)
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "logits": logits, "label_id": label_id,
                "label": tf.gather(self.label_names, label_id)}

    def _classify_ids(self, features: dict) -> dict:
        return self._outputs({name: features[name] for name in self.input_names})

    def _serve_ids(self, *tensors) -> dict:
        return self._outputs(dict(zip(self.input_names, tensors, strict=True)))

    def _classify_text(self, text: tf.Tensor) -> dict:
        return self._text_outputs(self.text_tokenizer(text), text)

    def _serve_pair(self, text: tf.Tensor, text_pair: tf.Tensor) -> dict:
        return self._text_outputs(self.text_tokenizer(text, text_pair), text)

    def _classify_pair(self, texts: dict) -> dict:
        return self._serve_pair(texts["text"], texts["text_pair"])

    def signatures(self) -> dict:
        found = {TOKEN_IDS_SIGNATURE: self.serve_token_ids.get_concrete_function()}
        if self.text_tokenizer is not None:
            found[TEXT_SIGNATURE] = self.serve_text.get_concrete_function()
        else:  # no raw-text entry point: the token-id signature becomes the default
            found[TEXT_SIGNATURE] = found[TOKEN_IDS_SIGNATURE]
        return found


def build_serving_module(
    model, tokenizer, max_length: int, temperature: float = 1.0,
    truncation: str = "head", head_tokens: int | None = None, pair: bool = False,
    head: TaskHead | None = None, forward: FastEncoder | KerasForward | None = None,
    windows: tuple[int, int, str] | None = None,
) -> ServingModule:
    """Wraps a Keras classifier and its HF fast tokenizer, with a raw-text path where it can.

    `truncation` and `head_tokens` must be the training ones, so served texts are cut alike;
    `pair`: the model reads two texts, and the raw-text signature takes `text` and `text_pair`.
    `head` (the run's `head.json`) says what the outputs mean; default: the model config's
    problem type with thresholds of 0.5. `forward` computes the logits: default the fast
    encoder in float32 (`serving_forward`). `windows` (stride, max windows, aggregate): the
    raw-text signature reads each text whole as windows, as a run trained on them does.
    """
    try:
        text_tokenizer = in_graph_tokenizer(tokenizer, max_length, truncation, head_tokens, pair)
    except UnsupportedTokenizerError as err:
        log.warning("raw-text signature not exported: %s; only the token-id signature is", err)
        text_tokenizer = None
    if text_tokenizer is not None and windows is not None:
        text_tokenizer.set_windows(*windows[:2])
    head = head or TaskHead(task_of(model.config.problem_type), output_names(model))
    input_names = tuple(n for n in tokenizer.model_input_names
                        if n in ("input_ids", "attention_mask", "token_type_ids"))
    forward = forward or serving_forward(model, "float32")
    return ServingModule(forward, head, input_names, text_tokenizer, temperature,
                         windows[2] if windows else "mean-logits")
