"""Populate workers: table order, worker loop, error policy."""
