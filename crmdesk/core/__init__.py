"""The neutral domain: no Qt, no HTTP.  Everything above ``backends`` speaks only these types."""
