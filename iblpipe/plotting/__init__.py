"""Figures: arrays in, Figure out. No datajoint here."""
