"""The REST API: HTTP JSON over the control plane, OpenAPI 3.1 at ``/openapi.json``.

  models         pydantic request/response bodies
  errors         the ONE exception -> HTTP status table
  routes         Route / Call types; volume_routes, cluster_routes: the handlers and table
  openapi        the OpenAPI document generated from routes + models
  server         ``start_api(app, host, port) -> ApiHandle`` (used by the manager)
  cli            ``pronghorn api --store URL [--listen HOST:PORT]``
"""
