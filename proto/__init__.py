"""gRPC service definitions (.proto) and their generated Python modules."""
