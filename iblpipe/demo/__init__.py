"""Deterministic synthetic lab generator. No datajoint here."""
