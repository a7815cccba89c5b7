"""Thin Qt item models over the neutral domain."""
