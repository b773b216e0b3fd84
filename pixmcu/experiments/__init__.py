"""Reproducible experiments whose results are committed under docs/results/."""
