"""Read models built from domain events (volume status, desired engine state)."""
