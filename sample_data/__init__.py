"""Small sample inputs, shipped inside the package as ``xentcli.sample_data``.

The files are plain CSV/TSV for people to read and try (see the README);
``xent example`` reads the reference document's example from here.
"""

from importlib.resources import files


def path(name: str):
    """The shipped file ``name`` (a Traversable; a real path when installed)."""
    return files(__name__) / name
