"""Training: the Lightning module and data module, losses, checkpoints, `train` and k-fold runs."""
