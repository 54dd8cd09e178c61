"""Held-out evaluation: metrics on a labelled folder under laundering conditions."""
