"""Tools that measure tfbert, one folder per question: `speed` (training and inference against the
peers, profiles), `labelling` (large files), `tokenizers` (in-graph parity, serving cost) and
`tasks` (the constructed pair and multi-label tasks, baselines). Each is run as
`python -m benchmarks.<folder>.<tool>`; see docs/benchmarks.md."""
