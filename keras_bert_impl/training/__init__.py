"""Training pieces: optimizers and schedules (more arrive with the pretraining system)."""
