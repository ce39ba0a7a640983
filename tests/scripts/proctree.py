"""Process-tree helpers shared by the test scripts: read /proc, no psutil."""

import os
import signal


def table():
    """{pid: (ppid, state)} for every process visible in /proc."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue  # exited while we looked
        # comm may hold spaces and parentheses: the fields start after the last ')'.
        rest = data[data.rindex(b")") + 2 :].split()
        out[int(name)] = (int(rest[1]), rest[0].decode())
    return out


def descendants(root):
    """Every process below `root` (children, grandchildren...), oldest scan first."""
    kids = {}
    for pid, (ppid, _) in table().items():
        kids.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in kids.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def kill_tree(root):
    """SIGKILL everything below `root` and return the pids.

    Freeze first (SIGSTOP until the set stops growing): a stopped process cannot
    fork, and its children stay below it, so nothing escapes while we kill.
    """
    seen = set()
    for _ in range(100):
        now = set(descendants(root))
        new = now - seen
        if not new:
            break
        for pid in new:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        seen |= now
    for pid in seen:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return sorted(seen)
