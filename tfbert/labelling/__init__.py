"""Labelling files of texts: a resumable job on one machine, or an Apache Beam pipeline."""
