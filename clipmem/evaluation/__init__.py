"""Utility and detection metrics: encoders, zero-shot accuracy, retrieval recall, AUC."""
