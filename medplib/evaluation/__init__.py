"""Evaluation: the metrics of the original (closed / open VQA, mask IoU and Dice) and the evaluation command."""
