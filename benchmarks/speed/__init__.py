"""Speed: training and inference of tfbert against the transformers TF recipe, the PyTorch Trainer,
PyTorch eager and ONNX Runtime (`python -m benchmarks.speed`, `python -m benchmarks.speed.inference`),
and where the time goes (`profile_training`, `profile_inference`)."""
