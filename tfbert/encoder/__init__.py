"""A fast forward pass for fine-tuned BERT-family classifiers, reading transformers' weights.

`weights` reads a transformers TF classifier into one layout, `blocks` holds the steps as plain
TensorFlow ops shaped so oneDNN fuses them, and `module.FastEncoder` runs them with the weights in
float32 or bfloat16. Training keeps transformers' Keras model; prediction, evaluation and the export
run this copy of it where the architecture is covered (`weights.SUPPORTED`).
"""
