"""Edges of the system: CLI, Kubernetes, CSI, backup stores."""
