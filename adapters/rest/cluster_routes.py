"""REST handlers for nodes and recurring jobs.

Thin: one ``domain.services.Nodes`` / ``domain.jobs_service.RecurringJobs`` call each,
rendered with the CLI's own documents (``node_document``, ``job_document``) so the
API and ``pronghorn node|job get --json`` agree.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from adapters.cli.jobs import job_document
from adapters.cli.nodes import node_document
from adapters.rest import models as m
from adapters.rest.routes import Call, Route
from domain.jobs_service import RecurringJobs
from domain.services import Nodes
from domain.values import Disk


def list_nodes(call: Call) -> Any:
    return [node_document(n) for n in Nodes(call.app).list()]


def add_node(call: Call) -> Any:
    body: m.NodeCreate = call.body
    disks = [Disk(d.path, d.capacity, d.reserved, tuple(d.tags)) for d in body.disks]
    return node_document(Nodes(call.app).add(body.name, body.address, body.zone, body.tags, disks))


def get_node(call: Call) -> Any:
    return node_document(Nodes(call.app).get(call.params["name"]))


def remove_node(call: Call) -> Any:
    Nodes(call.app).remove(call.params["name"])
    return {"name": call.params["name"], "deleted": True}


def cordon_node(call: Call) -> Any:
    return node_document(Nodes(call.app).cordon(call.params["name"]))


def uncordon_node(call: Call) -> Any:
    return node_document(Nodes(call.app).uncordon(call.params["name"]))


def list_jobs(call: Call) -> Any:
    return [job_document(j) for j in RecurringJobs(call.app).list()]


def create_job(call: Call) -> Any:
    body: m.JobCreate = call.body
    return job_document(RecurringJobs(call.app).create(body.name, body.task, body.cron, body.retain, body.volumes,
                                                       body.labels))


def get_job(call: Call) -> Any:
    return job_document(RecurringJobs(call.app).get(call.params["name"]))


def update_job(call: Call) -> Any:
    body: m.JobUpdate = call.body
    return job_document(RecurringJobs(call.app).update(call.params["name"], body.cron, body.retain, body.volumes,
                                                       body.labels))


def delete_job(call: Call) -> Any:
    job = RecurringJobs(call.app).delete(call.params["name"])
    return {"name": job.name, "deleted": True}


N = "/v1/nodes"
J = "/v1/jobs"
ROUTES = [
    Route("GET", N, list_nodes, "List nodes", list[m.NodeDoc]),
    Route("POST", N, add_node, "Register a node with its disks", m.NodeDoc, HTTPStatus.CREATED, m.NodeCreate),
    Route("GET", N + "/{name}", get_node, "A node and its disks", m.NodeDoc),
    Route("DELETE", N + "/{name}", remove_node,
          "Unregister a node (409 while replicas live there or volumes are attached there)", m.Deleted),
    Route("POST", N + "/{name}/cordon", cordon_node, "Stop scheduling new replicas on a node", m.NodeDoc),
    Route("POST", N + "/{name}/uncordon", uncordon_node, "Allow scheduling on a node again", m.NodeDoc),
    Route("GET", J, list_jobs, "List recurring jobs", list[m.JobDoc]),
    Route("POST", J, create_job, "Create a recurring job", m.JobDoc, HTTPStatus.CREATED, m.JobCreate),
    Route("GET", J + "/{name}", get_job, "A recurring job", m.JobDoc),
    Route("PATCH", J + "/{name}", update_job, "Change a job's cron, retain, volumes or labels", m.JobDoc,
          body=m.JobUpdate),
    Route("DELETE", J + "/{name}", delete_job, "Delete a recurring job", m.Deleted),
]
