"""Helpers every job shares: the HTML report pages and their figures."""
