"""Widgets that show the models; each one small, none of them talks to a backend."""
