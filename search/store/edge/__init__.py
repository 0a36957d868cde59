"""The embedded store: Qdrant's engine in-process (`qdrant-edge-py`) in a folder, with what that needs around it:
the folder layout, free-space checks, backups, migration from the old local-mode format, and the record of the
process that holds the folder."""
