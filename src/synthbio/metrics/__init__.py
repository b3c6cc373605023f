"""Metrics over scores and samples: verification error rates, score distributions."""
