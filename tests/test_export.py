"""The TF Serving export: signatures, parity with the Keras model, and loading it the ways users do."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO
from serving_checks import TENSORFLOW_TEXT_OPS, run_isolated, stock_serving_report

from tfbert.base.errors import ExitCode
from tfbert.cli.export import main as export_main
from tfbert.predict import Classifier
from tfbert.serving.export import ExportError, export_run

TEXTS = ["the film was wonderful", "the movie was awful", "", "   ", "café naïve 中文 😀 <br />ok",
         "good " * 500, "it was not bad at all !"]


@pytest.fixture(scope="module")
def export_dir(trained_run) -> Path:
    path = trained_run.run_dir / "export" / "classifier" / "1"
    assert path.is_dir(), "train.run exports version 1 by default"
    return path


@pytest.fixture(scope="module")
def loaded(export_dir):
    return tf.saved_model.load(str(export_dir))


def test_layout_and_serving_files(export_dir):
    base = export_dir.parent
    assert sorted(p.name for p in base.iterdir()) == [
        "1", "README.md", "batching_parameters.txt", "models.config"]
    assert 'name: "classifier"' in (base / "models.config").read_text()
    assert "max_batch_size" in (base / "batching_parameters.txt").read_text()
    card = (base / "README.md").read_text()
    assert "negative, positive" in card and "max length: 32" in card and "accuracy" in card


def test_signatures_outputs_and_dtypes(loaded):
    assert set(loaded.signatures) == {"serving_default", "token_ids"}
    out = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    assert out["probabilities"].dtype == tf.float32 and out["probabilities"].shape == (len(TEXTS), 2)
    assert out["logits"].dtype == tf.float32
    assert out["label_id"].dtype == tf.int32
    assert out["label"].dtype == tf.string
    np.testing.assert_allclose(out["probabilities"].numpy().sum(axis=1), 1.0, atol=1e-5)
    labels = [s.decode() for s in out["label"].numpy()]
    assert labels[:2] == ["positive", "negative"]
    assert all(label in ("negative", "positive") for label in labels)


def test_raw_text_matches_keras_model_on_hf_tokens(trained_run, loaded):
    expected = Classifier.from_run(trained_run.run_dir, compute_dtype="float32").predict_proba(TEXTS)
    served = loaded.signatures["serving_default"](text=tf.constant(TEXTS))["probabilities"]
    np.testing.assert_allclose(served.numpy(), expected, atol=1e-4)


def test_token_id_signature_matches_text_signature(trained_run, loaded):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(trained_run.run_dir))
    enc = tokenizer(TEXTS[:2], padding=True, truncation=True, max_length=32, return_tensors="np")
    by_ids = loaded.signatures["token_ids"](**{k: tf.constant(v, tf.int32) for k, v in enc.items()})
    by_text = loaded.signatures["serving_default"](text=tf.constant(TEXTS[:2]))
    np.testing.assert_allclose(by_ids["probabilities"], by_text["probabilities"], atol=1e-5)
    by_dict = loaded.classify_token_ids({k: tf.constant(v, tf.int32) for k, v in enc.items()})
    np.testing.assert_allclose(by_dict["logits"], by_ids["logits"], atol=1e-6)


def test_edge_inputs_are_defined(loaded):
    empty = loaded.signatures["serving_default"](text=tf.constant([], tf.string))
    assert empty["probabilities"].shape == (0, 2) and empty["label"].shape == (0,)
    odd = loaded.signatures["serving_default"](
        text=tf.constant([b"caf\xe9 \xff ok", "x" * 100_000, "\x00\x07\u200b"]))
    assert np.isfinite(odd["probabilities"].numpy()).all()


def test_versions_are_never_overwritten(run_copy):
    base = run_copy / "export" / "classifier"
    with pytest.raises(ExportError, match="already exists"):
        export_run(run_copy, version=1)
    assert export_main(["--run", str(run_copy), "--version", "1"]) == ExitCode.RUN_FOLDER
    result = export_run(run_copy)  # auto: next free number
    assert result.version == 2 and (base / "2" / "saved_model.pb").exists()
    assert not [p for p in base.iterdir() if p.name.startswith(".")], "no temp folders left"


def test_warmup_requests_parse(export_dir):
    from tensorflow_serving.apis import prediction_log_pb2

    records = list(tf.data.TFRecordDataset(
        str(export_dir / "assets.extra" / "tf_serving_warmup_requests")))
    assert len(records) == 2
    log_record = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    request = log_record.predict_log.request
    assert request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["text"]).tolist() == [b"a short warm-up request"]


def test_saved_model_cli_lists_both_signatures(export_dir):
    cli = Path(sys.executable).with_name("saved_model_cli")
    done = subprocess.run([str(cli), "show", "--all", "--dir", str(export_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "signature_def['serving_default']" in done.stdout
    assert "signature_def['token_ids']" in done.stdout
    assert "inputs['text'] tensor_info:" in done.stdout


def test_stock_tensorflow_ops_only_and_tf1_session_loader(export_dir):
    result = stock_serving_report(export_dir, ["the film was wonderful", ""])
    assert result["missing"] == []
    assert not set(result["ops"]) & (TENSORFLOW_TEXT_OPS | {"PyFunc", "EagerPyFunc"})
    assert result["shape"] == [2, 2] and result["labels"][0] == "positive"


README_EXPORT = "saved_models/quickstart/export/classifier/1"


def _readme_snippets() -> list[str]:
    """The README's Python blocks that load the Quickstart export, exactly as written there."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    return [block for block in blocks if README_EXPORT in block]


def test_readme_snippets_run_as_written(export_dir):
    snippets = _readme_snippets()
    assert len(snippets) == 3, "plain TensorFlow, Keras 3 and tf_keras"
    # Each snippet runs unchanged (but for the path); a line after it reads what it built.
    two = "tf.constant(['the film was wonderful', 'the movie was awful'])"
    probes = {"plain": f"exported.signatures['serving_default'](text={two})['probabilities'].numpy()",
              "keras": f"model.predict({two}, verbose=0)"}
    results = []
    for snippet in snippets:
        probe = probes["plain" if "signatures[" in snippet else "keras"]
        code = snippet.replace(README_EXPORT, str(export_dir))
        done = run_isolated(f"{code}\nimport json\nprint(json.dumps({probe}.tolist()))\n")
        assert done.returncode == 0, snippet + done.stderr[-3000:]
        results.append(np.array(json.loads(done.stdout.strip().splitlines()[-1])))
    plain, k3, k2 = results
    assert plain.shape == k3.shape == k2.shape == (2, 2)
    assert k3[0, 1] > 0.5 > k3[1, 1]
    np.testing.assert_allclose(k2, k3, atol=1e-5)


def test_keras3_token_id_endpoint(export_dir):
    code = f"""
        import json
        import keras
        path = {str(export_dir)!r}
        assert keras.__version__.startswith("3"), keras.__version__
        ids = {{"input_ids": keras.Input(shape=(None,), dtype="int32", name="input_ids"),
               "attention_mask": keras.Input(shape=(None,), dtype="int32", name="attention_mask"),
               "token_type_ids": keras.Input(shape=(None,), dtype="int32", name="token_type_ids")}}
        id_layer = keras.layers.TFSMLayer(path, call_endpoint="classify_token_ids")
        id_model = keras.Model(ids, id_layer(ids)["logits"])
        print(json.dumps(list(id_model.output.shape)))
    """
    done = run_isolated(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [None, 2]


def test_interrupted_export_leaves_no_version(run_copy, monkeypatch):
    base = run_copy / "export" / "classifier"
    before = sorted(p.name for p in base.iterdir())

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("simulated kill during save")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        export_run(run_copy, version=9)
    assert sorted(p.name for p in base.iterdir()) == before


def test_bfloat16_export_keeps_inputs_and_outputs(run_copy, loaded):
    result = export_run(run_copy, compute_dtype="bfloat16")
    fast = tf.saved_model.load(str(result.path))
    weights = fast.forward.variables_by_name  # the fast encoder's, restored as a dict
    assert weights["embeddings.word"].dtype == tf.bfloat16
    assert weights["layer_0.attention_norm.gamma"].dtype == tf.float32
    out = fast.signatures["serving_default"](text=tf.constant(TEXTS))
    assert (out["probabilities"].dtype, out["logits"].dtype) == (tf.float32, tf.float32)
    assert out["label_id"].dtype == tf.int32 and out["label"].dtype == tf.string
    reference = loaded.signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(out["probabilities"], reference["probabilities"], atol=0.03)
    assert out["label"].numpy()[:2].tolist() == reference["label"].numpy()[:2].tolist()
    card = (run_copy / "export" / "classifier" / "README.md").read_text()
    assert "computes in bfloat16" in card and "avx512_bf16" in card
    with pytest.raises(ExportError, match="compute dtype"):
        export_run(run_copy, compute_dtype="float16")
