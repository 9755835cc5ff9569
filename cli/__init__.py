"""The ``camx`` command line: a thin Typer app that composes Hydra configs and calls :mod:`camx.jobs`."""
