"""Pure domain types: no I/O, no engines, no web framework."""
