"""Pronghorn's control-plane domain: aggregates, events, policies, services.

Pure: imports the standard library and eventsourcing only. Map:
  ids, values, errors, validation   names -> uuid5 ids; StrEnums and records; typed errors; argument rules
  volume, replica, snapshots, node  the aggregates (Volume, Replica, SnapshotChain, Node)
  catalog                           index of live volume / node names (for listing)
  scheduling                        pure replica placement policy
  application, transcoding          ControlPlane (one app, one notification log) and its JSON transcoder
  service, services                 get -> command -> save with conflict retry; Volumes, Nodes,
  replicas_service, snapshots_service, replica_placement   Replicas, Snapshots, placement plans
  store                             store URL -> ControlPlane (memory, SQLite, PostgreSQL)
"""
