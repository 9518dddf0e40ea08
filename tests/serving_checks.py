"""Loading an export the way stock TensorFlow Serving does, in a process without our libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

TENSORFLOW_TEXT_OPS = {"CaseFoldUTF8", "NormalizeUTF8", "FastBertNormalize",
                       "WordpieceTokenizeWithOffsets", "RegexSplitWithOffsets",
                       "FastWordpieceTokenizeWithOffsets"}


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Runs code in a fresh Python where transformers and tensorflow_text cannot be imported."""
    blocker = textwrap.dedent("""
        import sys
        class _Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("transformers", "tensorflow_text", "tfbert"):
                    raise ImportError(f"{name} is blocked in this test")
        sys.meta_path.insert(0, _Block())
    """)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run([sys.executable, "-c", blocker + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=600, env=env)


def stock_serving_report(export_dir: Path, texts: Sequence[str]) -> dict:
    """Ops of the SavedModel, those TensorFlow does not register, and `serving_default` on texts
    run through a TF1 session (the C++ path TF Serving takes) with transformers blocked."""
    code = f"""
        import json
        import numpy as np
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow.python.framework import op_def_registry

        path = {str(export_dir)!r}
        proto = saved_model_pb2.SavedModel()
        proto.ParseFromString(open(path + "/saved_model.pb", "rb").read())
        ops = set()
        for graph in proto.meta_graphs:
            ops |= {{n.op for n in graph.graph_def.node}}
            for fn in graph.graph_def.library.function:
                ops |= {{n.op for n in fn.node_def}}
        missing = sorted(op for op in ops if op_def_registry.get(op) is None)

        # The C++ path TF Serving takes: a TF1 session, the serve tag, tensors by name.
        with tf.compat.v1.Session(graph=tf.Graph()) as sess:
            meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], path)
            sig = meta.signature_def["serving_default"]
            fetch = {{k: v.name for k, v in sig.outputs.items()}}
            out = sess.run(fetch, {{sig.inputs["text"].name: {list(texts)!r}}})
        def as_text(v):
            return np.vectorize(bytes.decode, otypes=[object])(v) if v.dtype.kind in "SO" else v
        plain = {{k: as_text(v).tolist() for k, v in out.items()}}
        report = {{"ops": sorted(ops), "missing": missing, "outputs": plain}}
        if "label" in out:  # a single-label export
            report.update(labels=plain["label"], shape=list(out["probabilities"].shape),
                          probabilities=plain["probabilities"])
        print(json.dumps(report))
    """
    done = run_isolated(code)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def fine_tune_export_and_compare(checkpoint: Path, data_dir: Path, out_dir: Path, family: str,
                                 texts: Sequence[str]) -> None:
    """One epoch with head+tail cuts, then the export: its model card names `family`, raw text
    gives the logits of the fast tokenizer's ids, and a transformers-free TF1 session agrees."""
    import numpy as np
    import tensorflow as tf
    from tokenizer_cases import expected_ids
    from transformers import AutoTokenizer

    from tfbert.cli.train import train_and_export
    from tfbert.config import DataConfig, ModelConfig, OutputConfig, RunConfig, TrainConfig

    cfg = RunConfig(
        data=DataConfig(sources=(str(data_dir),), max_length=32, truncation="head+tail"),
        model=ModelConfig(name_or_path=str(checkpoint)),
        train=TrainConfig(epochs=1, batch_size=32, early_stopping_patience=None),
        output=OutputConfig(output_dir=str(out_dir), run_name="family"),
    )
    result = train_and_export(cfg)
    export = result.run_dir / "export" / "classifier" / "1"
    assert f"tokenized in the graph ({family})" in (export.parent / "README.md").read_text()
    loaded = tf.saved_model.load(str(export))
    by_text = loaded.signatures["serving_default"](text=tf.constant(texts))
    reference = AutoTokenizer.from_pretrained(str(result.run_dir))
    ids = expected_ids(reference, texts, 32, head_tokens=(32 - 2) // 4)  # head+tail's default
    width = max(len(i) for i in ids)
    inputs = {"input_ids": [i + [reference.pad_token_id] * (width - len(i)) for i in ids],
              "attention_mask": [[1] * len(i) + [0] * (width - len(i)) for i in ids],
              "token_type_ids": [[0] * width for _ in ids]}
    signature = loaded.signatures["token_ids"]
    names = signature.structured_input_signature[1]
    by_ids = signature(**{k: tf.constant(v, tf.int32) for k, v in inputs.items() if k in names})
    np.testing.assert_allclose(by_text["logits"], by_ids["logits"], atol=1e-5)
    stock = stock_serving_report(export, texts[:8])  # core ops only, no transformers
    assert stock["missing"] == [] and not set(stock["ops"]) & TENSORFLOW_TEXT_OPS
    np.testing.assert_allclose(stock["probabilities"], by_text["probabilities"][:8], atol=1e-5)
