"""The commands, one file each, named in :data:`xentcli.cli.LAZY_COMMANDS`; what several share is in ``_common``."""
