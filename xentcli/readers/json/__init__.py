"""JSON inputs: ``.json`` documents read whole (:mod:`.document`) and JSON Lines read line by line
(:mod:`.lines`), which share how JSON values become numbers (:mod:`.values`).

The registry (:data:`xentcli.readers.FORMATS`) imports each reader module by name when a file of
its extension is read; this package re-exports nothing.
"""
