"""``pronghorn job``: recurring snapshot jobs.

    pronghorn job create NAME --task snapshot --cron "*/5 * * * *" --retain 3 --volumes v1,v2 [--label K=V]
    pronghorn job ls [--json]
    pronghorn job get NAME [--json]
    pronghorn job rm NAME

Called by the dispatcher (adapters.cli.main); commands go through
``domain.jobs_service.RecurringJobs``. The manager's job runner (``manager.jobs``)
fires the jobs. ``job_document`` is also what the REST API returns for a job.
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.cli.command import add_json_option, add_store_option, add_verbs, make_parser, opened_store, run
from adapters.cli.errors import ExitCode
from adapters.cli.output import print_json, render_fields, render_table
from domain.cron import next_fire
from domain.jobs import JobTask, RecurringJob
from domain.jobs_service import RecurringJobs

EPILOG = ("Exit codes: 0 ok, 2 bad arguments or values (e.g. a cron expression), 3 unknown job, "
          "4 job exists, 7 store unavailable.")


def job_document(job: RecurringJob) -> dict[str, Any]:
    return {
        "name": job.name,
        "task": job.task,
        "cron": job.cron,
        "retain": job.retain,
        "volumes": list(job.volumes),
        "labels": dict(job.labels),
        "last_fired": job.last_fired.isoformat() if job.last_fired else None,
        "next_fire": next_fire(job.schedule, job.last_fired or job.created_on).isoformat(),
        "fires": job.fires,
        "version": job.version,
    }


def volume_list(text: str) -> list[str]:
    return [v for v in (part.strip() for part in text.split(",")) if v]


def label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"invalid label {text!r} (expected KEY=VALUE)")
    return key, value


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Recurring snapshot jobs (the manager fires them).")
    parser.epilog = EPILOG
    verbs = add_verbs(parser)
    create = verbs.add_parser("create", help="create a recurring job", description="Create a recurring job.")
    create.add_argument("name", metavar="NAME", help="job name")
    create.add_argument("--task", choices=[t.value for t in JobTask], default=JobTask.SNAPSHOT.value)
    create.add_argument("--cron", required=True, help='5-field cron expression (UTC), e.g. "*/5 * * * *"')
    create.add_argument("--retain", type=int, required=True, metavar="N", help="snapshots of this job kept per volume")
    create.add_argument("--volumes", type=volume_list, default=[], metavar="V1,V2", help="volumes to snapshot")
    create.add_argument("--label", type=label, action="append", default=[], metavar="K=V",
                        help="label added to each snapshot (repeatable)")
    for name, text in (("ls", "list recurring jobs"), ("get", "show one job"), ("rm", "delete a job")):
        sub = verbs.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name != "ls":
            sub.add_argument("name", metavar="NAME", help="job name")
    for sub in verbs.choices.values():
        sub.epilog = EPILOG
        add_json_option(sub)
        add_store_option(sub)
    return parser


def main(argv: list[str] | None = None, prog: str = "pronghorn job") -> int:
    args = build_parser(prog).parse_args(argv)
    return run(f"{prog} {args.verb}", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    with opened_store(args.store) as app:
        jobs = RecurringJobs(app)
        if args.verb == "ls":
            documents = [job_document(j) for j in jobs.list()]
            if args.json:
                print_json(documents)
            else:
                print(render_table(["NAME", "TASK", "CRON", "RETAIN", "VOLUMES", "LAST FIRED", "NEXT FIRE"],
                                   [(d["name"], d["task"], d["cron"], d["retain"], d["volumes"], d["last_fired"],
                                     d["next_fire"]) for d in documents]))
            return ExitCode.OK
        if args.verb == "create":
            job = jobs.create(args.name, args.task, args.cron, args.retain, args.volumes, dict(args.label))
        elif args.verb == "rm":
            job = jobs.delete(args.name)
        else:
            job = jobs.get(args.name)
        document = job_document(job)
    if args.verb == "rm":
        document = {"name": job.name, "deleted": True}
    print_json(document) if args.json else print(render_fields(document))
    return ExitCode.OK
