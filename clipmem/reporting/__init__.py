"""Outputs people read: scores.csv, plots, the printed summary, and W&B logging."""
