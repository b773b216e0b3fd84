"""Training: datasets, the loop with checkpoints and resume, evaluation."""
