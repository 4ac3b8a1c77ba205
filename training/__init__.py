"""Data, training, evaluation and experiments for MaskWatch's models."""
