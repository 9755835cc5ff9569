"""Reports: records → tables → one writer per format (markdown in :mod:`camx.results`, HTML here)."""
