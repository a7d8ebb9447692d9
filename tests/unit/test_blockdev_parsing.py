"""adapters.blockdev's pure parsing: the mount table and NBD URIs for nbd-client."""

from __future__ import annotations

import pytest

from adapters.blockdev.errors import AttachFailed, CommandFailed, DetachFailed
from adapters.blockdev.kernel_nbd import client_args
from adapters.blockdev.mounts import Mount, parse_mountinfo

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 7:0 / /mnt/my\\040volume rw,relatime shared:2 - xfs /dev/loop0 rw,attr2
37 22 0:39 / /run/x/nbdfuse-ab rw,nosuid,nodev,relatime - fuse /dev/fuse rw,user_id=0,group_id=0
38 22 0:40 / /opt/tagged rw master:7 shared:8 - tmpfs tmpfs rw
garbage line without separator
"""


def test_parse_mountinfo_unescapes_paths_and_skips_optional_fields() -> None:
    assert parse_mountinfo(MOUNTINFO) == [
        Mount("/", "ext4", "/dev/sda1"),
        Mount("/mnt/my volume", "xfs", "/dev/loop0"),
        Mount("/run/x/nbdfuse-ab", "fuse", "/dev/fuse"),
        Mount("/opt/tagged", "tmpfs", "tmpfs"),
    ]


@pytest.mark.parametrize(
    ("uri", "where", "name"),
    [
        ("nbd://127.0.0.1:10900", ["127.0.0.1", "10900"], []),
        ("nbd://localhost/vol1", ["localhost", "10809"], ["-name", "vol1"]),
        ("nbd+unix:///vol1?socket=/run/e.sock", ["-unix", "/run/e.sock"], ["-name", "vol1"]),
    ],
)
def test_nbd_client_arguments(uri: str, where: list[str], name: list[str]) -> None:
    assert client_args(uri) == (where, name)


@pytest.mark.parametrize("uri", ["http://x/y", "nbd+unix:///vol", "nbd:///vol"])
def test_unusable_uris_are_refused(uri: str) -> None:
    with pytest.raises(AttachFailed, match="URI"):
        client_args(uri)


def test_errors_name_what_failed() -> None:
    failed = CommandFailed(["losetup", "-d", "/dev/loop9"], 1, "warning\nlosetup: /dev/loop9: detach failed\n")
    assert str(failed) == "losetup -d /dev/loop9 failed (exit 1): losetup: /dev/loop9: detach failed"
    combined = DetachFailed("/dev/loop9", [("losetup --detach /dev/loop9", failed)])
    assert "losetup --detach /dev/loop9: losetup -d" in str(combined)
    assert combined.steps[0][1] is failed
