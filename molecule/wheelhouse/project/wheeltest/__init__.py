"""The wheelhouse scenario's project: only its requirements matter."""
