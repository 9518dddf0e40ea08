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
        print(json.dumps({{"ops": sorted(ops), "missing": missing,
                          "labels": [s.decode() for s in out["label"]],
                          "shape": list(out["probabilities"].shape),
                          "probabilities": out["probabilities"].tolist()}}))
    """
    done = run_isolated(code)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
