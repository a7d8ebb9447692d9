"""``pronghorn volume attach|detach|mount|umount``: ask the manager to serve a volume, and use it.

    pronghorn volume attach NAME --node NODE [--wait] [--timeout S]
    pronghorn volume detach NAME [--wait] [--timeout S] [--force]
    pronghorn volume mount NAME PATH [--fs ext4|xfs]
    pronghorn volume umount PATH

``attach`` / ``detach`` record the intent (AttachStarted / DetachStarted); the
manager (``pronghorn up``) starts or stops the processes and records the outcome;
``--wait`` polls the store until it did (exit 8 when ``--timeout`` passes first).
``detach --force`` records the volume detached at once, for a volume waiting on a
node whose manager is gone (its ``WaitingForNode`` condition says which). ``mount`` needs an attached volume: it
makes a block device of its ``nbd://`` endpoint (adapters.blockdev), formats it
only when blank and mounts it (recording the mount: a revert is refused while it
lasts); ``umount`` undoes that, and exits 1 with the first line when the kernel
logged errors for the device while it was mounted. Reached through
``adapters.cli.volumes`` (the ``volume`` verb).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from adapters.blockdev.errors import BlockDeviceError
from adapters.blockdev.filesystem import FsType
from adapters.blockdev.volume_mount import mount_volume, unmount_volume
from adapters.cli.command import add_json_option, add_store_option, add_verbs, make_parser, opened_store, run
from adapters.cli.errors import CommandError, ExitCode
from adapters.cli.output import print_json
from adapters.cli.waiting import add_wait_options, wait_until
from domain.application import ControlPlane
from domain.services import Volumes
from domain.values import VolumeState
from projections import read_models
from projections.status_json import status_to_dict

VERBS = ("attach", "detach", "mount", "umount")
EPILOG = ("Exit codes: 0 ok, 1 attach or mount failed, or the kernel logged device errors while mounted, "
          "2 bad arguments, 3 unknown volume or node, 5 not allowed in the volume's state, 7 store unavailable, "
          "8 timed out waiting.")


def build_parser(prog: str) -> argparse.ArgumentParser:
    parser = make_parser(prog, "Attach, detach, mount and unmount volumes.")
    verbs = add_verbs(parser)
    attach = verbs.add_parser("attach", help="serve a volume on a node (the manager starts its engine)")
    attach.add_argument("name", metavar="NAME")
    attach.add_argument("--node", required=True, metavar="NODE", help="node the engine runs on")
    detach = verbs.add_parser("detach", help="stop serving a volume")
    detach.add_argument("name", metavar="NAME")
    detach.add_argument("--force", action="store_true",
                        help="record it detached now, without the node's manager (a node gone for good)")
    for sub in (attach, detach):
        add_wait_options(sub, "the manager has done it")
        add_json_option(sub)
    mount = verbs.add_parser("mount", help="mount an attached volume's filesystem (made if blank)")
    mount.add_argument("name", metavar="NAME")
    mount.add_argument("path", metavar="PATH", help="an existing directory")
    mount.add_argument("--fs", choices=[f.value for f in FsType], default=FsType.EXT4.value)
    umount = verbs.add_parser("umount", help="unmount a volume and release its block device")
    umount.add_argument("path", metavar="PATH")
    for sub in (attach, detach, mount, umount):
        add_store_option(sub)
        sub.epilog = EPILOG
    return parser


def main(argv: list[str], prog: str) -> int:
    args = build_parser(prog).parse_args(argv)
    return run(f"{prog} {args.verb}", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    if args.verb == "umount":
        if not os.path.isdir(args.path):
            raise CommandError(f"{args.path}: no such directory", ExitCode.NOT_FOUND)
        return _blockdev(lambda: unmount_volume(args.path))
    with opened_store(args.store) as app:
        volumes = Volumes(app)
        if args.verb == "mount":
            volume = volumes.get(args.name)
            if volume.state != VolumeState.ATTACHED or not volume.endpoint:
                raise CommandError(f"volume {args.name!r} is {volume.state}, not attached: "
                                   f"run 'pronghorn volume attach {args.name} --node NODE --wait' first",
                                   ExitCode.INVALID_STATE)
            return _blockdev(lambda: print(mount_volume(volume.endpoint, args.path, FsType(args.fs),
                                                        volume=args.name).path))
        if args.verb == "attach":
            volumes.start_attach(args.name, args.node)
            goal = VolumeState.ATTACHED
        elif args.force:
            volumes.force_detach(args.name)
            goal = VolumeState.DETACHED
        else:
            volumes.start_detach(args.name)
            goal = VolumeState.DETACHED
        if args.wait:
            _wait(volumes, args.name, goal, args.timeout)
        _print(app, args.name, args.json)
    return ExitCode.OK


def _blockdev(action: Any) -> int:
    try:
        action()
    except BlockDeviceError as exc:
        raise CommandError(str(exc), ExitCode.FAILURE) from exc
    return ExitCode.OK


def _wait(volumes: Volumes, name: str, goal: VolumeState, timeout: float) -> None:
    def done() -> bool:
        state = volumes.get(name).state
        if goal == VolumeState.ATTACHED and state == VolumeState.DETACHED:
            raise CommandError(f"attaching {name!r} failed (see 'pronghorn events {name}')")
        return state == goal

    def late() -> str:
        volume = volumes.get(name)
        return (f"volume {name!r} still {volume.state} on node {volume.node!r} after {timeout:g}s (is that "
                f"node's manager running? 'pronghorn volume detach {name} --force' gives up on it)")

    wait_until(done, timeout, late)


def _print(app: ControlPlane, name: str, as_json: bool) -> None:
    status = status_to_dict(read_models.statuses(app, [name])[name])  # the persisted view, caught up
    if as_json:
        print_json(status)
    else:
        endpoint = f" at {status['endpoint']}" if status["endpoint"] else ""
        print(f"{name}: {status['state']}{endpoint} ({status['robustness']})")
