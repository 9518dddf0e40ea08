"""Speed benchmarks, the training profiler and the tokenizer parity report: tools beside tfbert."""
