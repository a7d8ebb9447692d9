"""Pronghorn's control-plane domain: aggregates, events, policies, services.

Pure: imports the standard library and eventsourcing only.
"""
