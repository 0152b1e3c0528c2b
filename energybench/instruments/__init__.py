"""Capability protocols, instrument drivers and the driver registry."""
