"""Editable record forms generated from metadata: editors, the form, conflicts, the pane."""
