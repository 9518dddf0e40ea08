"""Serving: the export (a SavedModel with raw-text and token-id signatures), loading it back, the demo."""
