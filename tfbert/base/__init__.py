"""What every layer may use: the errors users see, atomic file writes, the one Keras import."""
