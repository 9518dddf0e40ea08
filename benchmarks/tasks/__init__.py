"""The constructed tasks built from IMDb (pairs, multi-label), the rating baselines, served parity."""
