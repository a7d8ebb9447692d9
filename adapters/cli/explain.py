"""``pronghorn replay VOLUME --explain [--at POINT]``: why the volume is as it is, in words.

Reads the volume's history up to the point (the per-volume history index), folds its
status, reads the events of the nodes its replicas and attachment are on, and prints
what ``projections.explanation.explain`` finds: per fact, the event that set it and
the events that led to it, each with who acted (``--json``: the same as a document).
Called by ``adapters.cli.replay``.
"""

from __future__ import annotations

from typing import Any

from domain.application import ControlPlane
from domain.ids import node_id
from projections.explanation import Explanation, Step, explain
from projections.indexed_history import IndexedHistory


def explanation_at(app: ControlPlane, history: IndexedHistory, position: int) -> Explanation:
    entries = list(history.between(0, position))
    status = history.status_at(position)
    nodes = {r.node for r in status.replicas if r.node} | ({status.node} if status.node else set())
    return explain(entries, status, {name: _node_events(app, name) for name in sorted(nodes)},
                   latest=position == history.length)


def _node_events(app: ControlPlane, name: str) -> list[Any]:
    """The node's events (oldest first); none when it was never registered."""
    return list(app.events.get(node_id(name)))


def render(explanation: Explanation) -> str:
    lines = [f"volume {explanation.volume!r} at position {explanation.position}: {explanation.summary}"]
    for finding in explanation.findings:
        lines.append("")
        lines.append(f"{finding.fact}, because:")
        lines += [f"  {_step_line(step, i)}" for i, step in enumerate(finding.chain)]
        if not finding.chain:
            lines.append("  (no event in this history sets it)")
    return "\n".join(lines)


def _step_line(step: Step, depth: int) -> str:
    where = f"#{step.position}" if step.position else step.subject
    who = f" [by {step.actor}]" if step.actor else ""
    lead = "" if depth == 0 else "after "
    return f"{lead}{where} {step.timestamp.isoformat(timespec='seconds')} {step.sentence}{who}"


def document(explanation: Explanation) -> dict[str, Any]:
    return {
        "volume": explanation.volume,
        "position": explanation.position,
        "summary": explanation.summary,
        "findings": [
            {"fact": f.fact, "chain": [_step_document(s) for s in f.chain]} for f in explanation.findings
        ],
    }


def _step_document(step: Step) -> dict[str, Any]:
    return {
        "position": step.position, "global_position": step.global_position,
        "timestamp": step.timestamp.isoformat(), "subject": step.subject, "type": step.type,
        "sentence": step.sentence, "actor": step.actor, "cause": step.cause,
    }

