"""Pure computations (numpy/pandas). No datajoint here."""
