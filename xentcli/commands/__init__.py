"""The commands, one file each, added to the ``xent`` group in :mod:`xentcli.cli`."""
