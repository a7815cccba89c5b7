"""The filter bar's state and how it turns into a core filter tree (no widgets)."""
