"""Unsupervised environment design: regret scores (``scores.py``) for UED learners."""
