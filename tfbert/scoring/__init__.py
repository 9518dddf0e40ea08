"""Scores of a classifier's outputs: metrics, calibration, and the evaluation report."""
