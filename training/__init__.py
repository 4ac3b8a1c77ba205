"""Retraining MaskWatch's models: data and splits, the training loops and their command lines, evaluation, int8 quantisation."""
