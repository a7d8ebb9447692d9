"""The engine process: NBD frontend, synchronous replicator, control service."""
