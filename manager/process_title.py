"""Set this process's command line as /proc/PID/cmdline shows it (Linux ``PR_SET_MM_MAP``).

A process forked by the launcher (manager/launcher_process.py) still carries the
launcher's command line; the supervisor recognises its instances, and operators
find them with ``ps``/``pkill -f``, by ``/proc/PID/cmdline``. ``set_cmdline(argv)``
points the kernel's argument area at a buffer holding ``argv`` (NUL-separated), so
the forked child reads exactly like a process started as ``argv``. It needs
``prctl(PR_SET_MM, PR_SET_MM_MAP)`` (kernel ``CONFIG_CHECKPOINT_RESTORE``; no
capability is needed when the executable is left alone); ``set_cmdline`` raises
``OSError`` where it is refused. Used by manager/launcher_process.py.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

PR_SET_NAME = 15
PR_SET_MM = 35
PR_SET_MM_MAP = 14
KEEP_EXE = 0xFFFFFFFF  # prctl_mm_map.exe_fd: leave /proc/PID/exe as it is

_FIELDS = ("start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
           "arg_start", "arg_end", "env_start", "env_end")
# /proc/PID/stat field numbers (1-based, proc(5)) of the fields above; brk comes from sbrk(0)
_STAT_FIELDS = {"start_code": 26, "end_code": 27, "start_stack": 28, "start_data": 45, "end_data": 46,
                "start_brk": 47, "arg_start": 48, "arg_end": 49, "env_start": 50, "env_end": 51}


class _MmMap(ctypes.Structure):  # struct prctl_mm_map (include/uapi/linux/prctl.h)
    _fields_ = [*((name, ctypes.c_uint64) for name in _FIELDS),
                ("auxv", ctypes.c_uint64), ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sbrk.restype = ctypes.c_void_p
_libc.sbrk.argtypes = [ctypes.c_long]
_keep: list[ctypes.Array[ctypes.c_char]] = []  # the kernel reads argv from this buffer for the process's life


def _prctl(option: int, arg2: int, arg3: int = 0, arg4: int = 0) -> None:
    if _libc.prctl(option, arg2, arg3, arg4, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"cannot set the command line (prctl {option}/{arg2}): {os.strerror(errno)}")


def set_cmdline(argv: list[str], name: str) -> None:
    """Make /proc/self/cmdline read ``argv`` and /proc/self/comm ``name`` (cut to 15 bytes)."""
    raw = b"".join(os.fsencode(arg) + b"\0" for arg in argv)
    buffer = ctypes.create_string_buffer(raw, len(raw))
    stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    values = {field: int(stat[number - 3]) for field, number in _STAT_FIELDS.items()}  # stat[0] is field 3
    values["brk"] = int(_libc.sbrk(0) or 0)
    values["arg_start"] = ctypes.addressof(buffer)
    values["arg_end"] = values["arg_start"] + len(raw)
    mm = _MmMap(**values, auxv=0, auxv_size=0, exe_fd=KEEP_EXE)
    _prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(mm), ctypes.sizeof(mm))
    _keep.append(buffer)
    comm = ctypes.create_string_buffer(os.fsencode(name)[:15])
    _prctl(PR_SET_NAME, ctypes.addressof(comm))
