"""Data sources: Alyx JSON dump, Alyx REST through ONE, ONE local cache. No datajoint here."""
