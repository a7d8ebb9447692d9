"""The engine's NBD frontend: protocol constants, handshake, transmission, server."""
