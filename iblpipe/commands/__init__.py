"""Subcommands of the `iblpipe` command line, one module each."""
