"""Labelling large files: throughput against in-memory prediction, memory per chunk, test files."""
