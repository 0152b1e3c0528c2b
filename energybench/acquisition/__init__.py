"""Arm -> stream chunks -> stop; sample-id continuity; crash-safe recording."""
