"""The training loop, experiment preparation, evaluation and checkpoints."""
