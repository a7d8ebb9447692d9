"""``set_cmdline``: a forked child shows exactly the argv it was given in /proc/PID/cmdline
(what the supervisor matches instances by) and its program name in /proc/PID/comm.
"""

from __future__ import annotations

import os
from pathlib import Path

from manager.instances import cmdline, process_matches
from manager.process_title import set_cmdline

ARGV = ["/usr/bin/python3", "/opt/venv/bin/pronghorn", "replica", "serve", "--dir", "/srv/a dir/é-r1", "--size", "4"]


def test_forked_child_shows_the_given_command_line() -> None:
    to_parent, from_child = os.pipe()
    to_child, from_parent = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: set the title, tell the parent, wait to be released
        code = 1
        try:
            set_cmdline(ARGV, "pronghorn")
            os.write(from_child, b"ok")
            os.read(to_child, 1)
            code = 0
        finally:
            os._exit(code)
    try:
        assert os.read(to_parent, 2) == b"ok"
        assert cmdline(pid) == ARGV
        assert process_matches(pid, ARGV[2:]) and not process_matches(pid, ARGV[2:-1])
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "pronghorn"
    finally:
        os.write(from_parent, b"x")
        _, status = os.waitpid(pid, 0)
        for fd in (to_parent, from_child, to_child, from_parent):
            os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
