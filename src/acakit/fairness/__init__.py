"""Minority collective action for fairness (Ben-Dov, Samadi, Sanyal, Țifrea, 2025)."""
