"""Who holds a process's mmap lock, for how long, and whether the holder was on a CPU meanwhile.

The kernel's ``mmap_lock`` tracepoints (``start_locking``, ``acquire_returned``, ``released``: per
task and ``mm``) and ``sched/sched_switch`` are recorded in a tracefs instance of our own (no other
tracing on the machine is touched), for one ``mm`` only: the target's, found from the first
write-lock event of one of its threads. Every read acquisition of it by another task also records
the kernel stack, so each hold says which system call took the lock (``ioctl`` in
``do_pagemap_scan``, ``read`` in ``show_smaps_rollup``, in ``proc_pid_cmdline_read``, ...).

From the events:

- a **hold** is one task's ``acquire_returned`` .. ``released`` (a write lock downgraded to a read
  one, as ``munmap`` does, stays one hold); its **off-CPU** time is the part of it during which the
  holder was switched out (``sched_switch``), **preempted** when it left in state ``R`` (it still
  wanted the CPU: under ``preempt=none`` that is a ``cond_resched()`` inside the walk honouring a
  pending reschedule) rather than to sleep; who ran instead is kept;
- a **writer wait** is a thread of the target between ``start_locking`` (write) and
  ``acquire_returned``: the stall the target saw. It is blamed on the hold of another task that
  overlapped it and ended last before the writer got the lock.

Used by ``bench/export_bench.py`` around each stall measurement; standalone:

    .venv/bin/python bench/lock_holds.py --pid PID --seconds 5 [--top 10]

records PID's mmap lock for that long (root; tracefs is mounted at /sys/kernel/tracing if it is
not). The stack recorded at each read acquisition costs a few microseconds inside that hold.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import os
import re
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
EVENTS = ("mmap_lock_start_locking", "mmap_lock_acquire_returned", "mmap_lock_released")
SCHED = ("sched_switch", "sched_wakeup")

_LINE = re.compile(
    r"^\s*(?P<comm>.*?)-(?P<tid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?"
    r"(?P<ts>\d+\.\d+):\s+(?P<event><stack trace>|\w+)(?::\s?(?P<rest>.*))?$"
)
_FIELD = re.compile(r"(\w+)=(\S+)")
_SWITCH = re.compile(
    r"prev_comm=(?P<prev_comm>.*?) prev_pid=(?P<prev_pid>\d+) prev_prio=\S+ prev_state=(?P<state>\S+) ==> "
    r"next_comm=(?P<next_comm>.*?) next_pid=(?P<next_pid>\d+) next_prio=\S+$"
)
#: Frames of the tracing itself and of the lock, above the caller that matters.
_NOISE = re.compile(
    r"^(trace_|__mmap_lock_do_trace|__traceiter|mmap_read_lock|mmap_write_lock|down_|lock_mm)"
)


def unavailable() -> str | None:
    """Why the lock cannot be traced here, or None. Mounts tracefs where it is missing."""
    if os.geteuid() != 0:
        return "not root: tracefs needs root"
    if not (TRACEFS / "instances").is_dir():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                ["mount", "-t", "tracefs", "nodev", str(TRACEFS)], check=True, capture_output=True, timeout=10
            )
    if not (TRACEFS / "instances").is_dir():
        return f"no tracefs at {TRACEFS}"
    if not (TRACEFS / "events" / "mmap_lock" / EVENTS[1]).is_dir():
        return "this kernel has no mmap_lock tracepoints"
    return None


# -- the recording -------------------------------------------------------------------------------


@dataclass
class Switch:
    ts: float
    out: bool  # the task left the CPU (True) or got it (False)
    state: str  # prev_state when it left
    cpu: int


@dataclass
class Hold:
    """One task's hold of the mmap lock."""

    tid: int
    comm: str
    write: bool
    start: float  # seconds (trace clock "mono": CLOCK_MONOTONIC)
    end: float
    waited: float  # from start_locking to the lock (0 for a downgrade or an untraced start)
    stack: tuple[str, ...] = ()
    granted_asleep: bool = False  # queued behind a writer, the lock was granted at its wakeup
    off_cpu: float = 0.0
    runnable: float = 0.0  # the part of off_cpu it wanted a CPU (preempted, or woken with the lock)
    preempted: int = 0  # times it was preempted (switched out in state R) while holding
    ran_instead: dict[str, float] = field(default_factory=dict)  # who had its CPU, for how long

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def call(self) -> str:
        """The system call and the kernel function that took the lock, from the stack."""
        return describe(self.stack)


@dataclass
class WriterWait:
    """A thread of the target waiting for the lock for writing: the stall it saw."""

    tid: int
    start: float
    end: float
    holds: list[Hold] = field(default_factory=list)  # other tasks' holds during the wait, in order
    wakeups: int = 0  # times the writer was woken meanwhile (each a try at the lock)
    runnable: float = 0.0  # woken (or preempted) but without a CPU
    unwoken: float = 0.0  # the lock free, the writer not yet woken (see :func:`_unwoken`)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def longest(self) -> Hold | None:
        return max(self.holds, key=lambda h: h.seconds, default=None)


def describe(stack: Iterable[str]) -> str:
    frames = [f for f in stack if not _NOISE.match(f)]
    if not frames:
        return "a call taken before the trace began, or without its stack"
    syscall = ""
    for f in frames:
        m = re.match(r"__(?:x64|ia32|x32)_sys_(\w+)|ksys_(\w+)|__do_sys_(\w+)", f)
        if m:
            syscall = next(g for g in m.groups() if g)
            break
    else:
        if any("page_fault" in f or "do_user_addr_fault" in f for f in frames):
            syscall = "page fault"
    caller = " < ".join(frames[:2])
    return f"{syscall}: {caller}" if syscall else caller


@dataclass
class Recording:
    pid: int
    mm: int
    holds: list[Hold]
    waits: list[WriterWait]
    seconds: float
    lost_events: int
    names: dict[int, str]  # tid -> "process (pid P)" for the holders, resolved while they lived
    target_tids: set[int]
    owners: dict[int, int] = field(default_factory=dict)  # tid -> its process, for the holders

    def worst_behind(self, pid: int) -> float:
        """The longest writer wait whose longest hold was one of process ``pid``'s (seconds)."""
        return max(
            (w.seconds for w in self.waits if w.longest and self.owners.get(w.longest.tid) == pid),
            default=0.0,
        )

    def holder(self, tid: int, comm: str = "") -> str:
        return self.names.get(tid) or f"{comm or '?'} (tid {tid})"

    def reader_holds(self) -> list[Hold]:
        """Holds of the lock by other processes' tasks (the readers), longest first."""
        return sorted((h for h in self.holds if h.tid not in self.target_tids), key=lambda h: -h.seconds)

    def report(self, top: int = 5, indent: str = "    ", holds: bool = False) -> str:
        """The longest writer waits (each with the hold that caused it) and the longest holds."""
        lines = []
        readers = self.reader_holds()
        off = [h for h in readers if h.off_cpu > 0]
        lines.append(
            f"{indent}mmap lock of pid {self.pid}, {self.seconds:.1f} s traced: {len(readers)} holds by"
            f" readers, {len(off)} of them with the holder off its CPU for part of the hold"
            f" ({sum(h.preempted > 0 for h in off)} preempted, {sum(h.granted_asleep for h in off)} granted"
            f" while asleep in the queue), {len(self.waits)} writer waits"
            + (f"; {self.lost_events} events LOST (the buffer was full)" if self.lost_events else "")
        )
        causes = self.causes()
        if any(causes.values()):
            lines.append(
                f"{indent}writer waits over 1 ms, by what kept the lock: "
                + ", ".join(f"{name} {count}" for name, count in causes.items())
            )
        waits = [w for w in sorted(self.waits, key=lambda w: -w.seconds)[:top] if w.seconds >= 50e-6]
        if waits:
            lines.append(f"{indent}longest writer waits (the target's stalls) and the holds behind each:")
        for w in waits:
            lines.append(f"{indent}  {w.seconds * 1e3:7.2f} ms  {self._wait(w)}")
        if readers and holds:
            lines.append(f"{indent}longest reader holds:")
        for h in readers[:top] if holds else []:
            lines.append(
                f"{indent}  {h.seconds * 1e3:7.2f} ms  {self.holder(h.tid, h.comm)}, {h.call}: {self._cpu(h)}"
            )
        return "\n".join(lines)

    def causes(self, over: float = 1e-3) -> dict[str, int]:
        """The writer waits longer than ``over`` seconds, counted by what made the hold behind
        each long: its holder preempted inside it (waiting for its CPU back), granted the lock
        asleep in the queue (waiting for a CPU to take it), or neither (the walk itself, on its
        CPU); the waits with no reader hold behind them (the writer's own delay); and those spent
        mostly with the lock free, before the writer's wakeup reached its CPU."""
        counts = {
            "holder preempted": 0,
            "granted asleep": 0,
            "the walk, on its CPU": 0,
            "no reader": 0,
            "the lock free, the writer's wakeup late": 0,
        }
        for w in self.waits:
            if w.seconds <= over:
                continue
            b = w.longest
            if b is None:
                counts["no reader"] += 1
            elif w.unwoken >= w.seconds / 2:
                counts["the lock free, the writer's wakeup late"] += 1
            elif b.runnable >= b.seconds / 2 and b.preempted:
                counts["holder preempted"] += 1
            elif b.runnable >= b.seconds / 2:
                counts["granted asleep"] += 1
            else:
                counts["the walk, on its CPU"] += 1
        return counts

    def _wait(self, w: WriterWait) -> str:
        b = w.longest
        if b is None:
            return f"no other task held the lock; the writer {self._writer(w)}"
        text = (
            f"behind {self.holder(b.tid, b.comm)}, {b.call}: a hold of {b.seconds * 1e3:.2f} ms,"
            f" {self._cpu(b)}"
        )
        if len(w.holds) > 1:
            held = sum(h.seconds for h in w.holds)
            text += (
                f"; {len(w.holds)} holds in the wait ({held * 1e3:.2f} ms held: the lock taken again"
                " before the writer got it)"
            )
        return f"{text}; the writer {self._writer(w)}"

    @staticmethod
    def _writer(w: WriterWait) -> str:
        return f"woken {w.wakeups}x, {w.runnable * 1e3:.2f} ms without a CPU" + (
            f", {w.unwoken * 1e3:.2f} ms from the release to its wakeup" if w.unwoken >= 1e-4 else ""
        )

    def _who(self, name: str) -> str:
        """ "comm (tid)" as the trace has it, with the process it belongs to when known."""
        if "(" not in name:
            return name
        tid = int(name.rsplit("(", 1)[1].rstrip(")"))
        return self.names.get(tid, name)

    def _cpu(self, h: Hold) -> str:
        if h.off_cpu < 10e-6:
            return "on its CPU throughout"
        instead = ", ".join(
            f"{self._who(name)} {sec * 1e3:.2f} ms"
            for name, sec in sorted(h.ran_instead.items(), key=lambda i: -i[1])[:3]
        )
        how = []
        if h.granted_asleep:
            how.append("granted the lock asleep in the queue behind a writer")
        if h.preempted:
            how.append(f"preempted {h.preempted}x")
        asleep = h.off_cpu - h.runnable
        return (
            f"off its CPU {h.off_cpu * 1e3:.2f} ms, {h.runnable * 1e3:.2f} of them runnable"
            + (f" and {asleep * 1e3:.2f} asleep" if asleep > 1e-5 else "")
            + (f" ({'; '.join(how)})" if how else "")
            + f"; its CPU ran {instead}"
        )


class LockTrace:
    """Records the mmap lock of process ``pid`` between :meth:`start` and :meth:`stop`; one
    tracefs instance, made by ``__enter__`` and removed by ``__exit__``."""

    def __init__(self, pid: int, *, stacks: bool = True, buffer_kib: int = 32768) -> None:
        self.pid = pid
        self.stacks = stacks
        self.buffer_kib = buffer_kib
        self.dir = TRACEFS / "instances" / f"pmscan-lock-holds-{os.getpid()}-{pid}"
        self.mm = 0
        self._started = 0.0
        self._trigger = ""

    # -- tracefs --

    def _write(self, name: str, value: str) -> None:
        (self.dir / name).write_text(value)

    def _event(self, name: str) -> str:
        return f"events/{'sched' if name.startswith('sched_') else 'mmap_lock'}/{name}"

    def __enter__(self) -> LockTrace:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.dir.mkdir()
        try:
            self._write("tracing_on", "0")
            self._write("trace_clock", "mono")
            self._write("options/hash-ptr", "0")  # the real mm address, to filter on
            self._write("options/overwrite", "0")  # a full buffer drops the newest, and says so
            self._write("buffer_size_kb", str(self.buffer_kib))
            self.mm = self._find_mm()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _find_mm(self) -> int:
        """The target's mm: from a write-lock event of one of its threads (the stall probe maps
        and unmaps all the time; anything else in it that maps will do too)."""
        acquired = self._event(EVENTS[1])
        self._write(f"{acquired}/filter", "write == 1")
        self._write(f"{acquired}/enable", "1")
        self._write("tracing_on", "1")
        deadline = time.monotonic() + 5
        try:
            while time.monotonic() < deadline:
                time.sleep(0.02)
                tids = self._tids()
                for line in (self.dir / "trace").read_text(errors="replace").splitlines():
                    m = _LINE.match(line)
                    if m and int(m["tid"]) in tids and m["event"] == EVENTS[1]:
                        return int(dict(_FIELD.findall(m["rest"]))["mm"], 16)
        finally:
            self._write("tracing_on", "0")
            self._write(f"{acquired}/enable", "0")
            self._write(f"{acquired}/filter", "0")
            self._write("trace", "")
        raise RuntimeError(
            f"process {self.pid} took no write lock of its mm within 5 s (is its stall probe running?)"
        )

    def _tids(self) -> set[int]:
        try:
            return {int(t) for t in os.listdir(f"/proc/{self.pid}/task")}
        except FileNotFoundError:
            return set()

    def start(self) -> None:
        """Clear the buffer and record from now on."""
        mm = f"mm == 0x{self.mm:x}"
        for name in EVENTS:
            self._write(f"{self._event(name)}/filter", mm)
        if self.stacks:
            # Not the target's own threads: the probe's munmap downgrades its write lock to a
            # read one thousands of times a second, and a stack each costs it microseconds.
            others = "".join(f" && common_pid != {t}" for t in sorted(self._tids()))
            self._trigger = f"stacktrace if {mm} && write == 0{others}"
            self._write(f"{self._event(EVENTS[1])}/trigger", self._trigger)
        self._write("trace", "")
        for name in (*EVENTS, *SCHED):
            self._write(f"{self._event(name)}/enable", "1")
        self._started = time.monotonic()
        self._write("tracing_on", "1")

    def stop(self, names: dict[int, str] | None = None) -> Recording:
        """Stop recording; the holds and waits since :meth:`start`. ``names`` labels processes by
        pid (e.g. ``{server_pid: "pmscan server"}``); the rest are named from /proc."""
        self._write("tracing_on", "0")
        seconds = time.monotonic() - self._started
        for name in (*EVENTS, *SCHED):
            self._write(f"{self._event(name)}/enable", "0")
        if self._trigger:
            self._write(f"{self._event(EVENTS[1])}/trigger", "!" + self._trigger)
            self._trigger = ""
        lost = self._lost()
        text = (self.dir / "trace").read_text(errors="replace")
        if os.environ.get("LOCK_HOLDS_DUMP"):
            Path(os.environ["LOCK_HOLDS_DUMP"]).write_text(text)
        target = self._tids()
        holds, waits = analyse(text.splitlines(), target)
        tids = {h.tid for h in holds} | {
            int(who.rsplit("(", 1)[1].rstrip(")")) for h in holds for who in h.ran_instead if "(" in who
        }
        owners: dict[int, int] = {}
        labels = resolve(tids, names or {}, owners)
        return Recording(self.pid, self.mm, holds, waits, seconds, lost, labels, target, owners)

    def _lost(self) -> int:
        lost = 0
        for stats in (self.dir / "per_cpu").glob("cpu*/stats"):
            for line in stats.read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() in ("overrun", "dropped events"):
                    lost += int(value.split()[0])
        return lost

    def __exit__(self, *exc: object) -> None:
        if not self.dir.exists():
            return
        with contextlib.suppress(OSError):
            self._write("tracing_on", "0")
        if self._trigger:
            with contextlib.suppress(OSError):
                self._write(f"{self._event(EVENTS[1])}/trigger", "!" + self._trigger)
        for name in (*EVENTS, *SCHED):
            with contextlib.suppress(OSError):
                self._write(f"{self._event(name)}/enable", "0")
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    @contextlib.contextmanager
    def recording(self, names: dict[int, str] | None = None) -> Iterator[list[Recording]]:
        """``with trace.recording() as out:`` ... ``out[0]`` is the recording once out."""
        out: list[Recording] = []
        self.start()
        try:
            yield out
        finally:
            out.append(self.stop(names))


def resolve(
    tids: Iterable[int], names: dict[int, str], owners: dict[int, int] | None = None
) -> dict[int, str]:
    """tid -> "label, tid T" by its process (Tgid) while it still exists; ``owners`` gets tid ->
    Tgid."""
    out = {}
    for tid in tids:
        try:
            status = Path(f"/proc/{tid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        tgid = int(fields.get("Tgid", "0").strip())
        if owners is not None:
            owners[tid] = tgid
        label = names.get(tgid) or f"{fields.get('Name', '?').strip()} (pid {tgid})"
        out[tid] = f"{label}, thread {tid}" if tid != tgid else f"{label}, main thread"
    return out


# -- the analysis --------------------------------------------------------------------------------


def analyse(lines: Iterable[str], target_tids: set[int]) -> tuple[list[Hold], list[WriterWait]]:
    """The holds and the writer waits of the trace's text (the ``trace`` file of the instance).

    A reader that finds the lock taken for writing sleeps in the queue, and the writer's release
    grants it the lock as it wakes it (``rwsem_mark_wake``): its hold begins at that wakeup, not
    when it gets a CPU and its ``acquire_returned`` is recorded."""
    holds: list[Hold] = []
    open_holds: dict[int, Hold] = {}
    locking: dict[int, tuple[float, bool]] = {}  # tid -> (start_locking time, write)
    queued: dict[int, float] = {}  # tid -> its wakeup (0.0 before it) after sleeping in a lock attempt
    waits: list[tuple[int, float, float]] = []
    switches: dict[int, list[Switch]] = {}
    wakeups: dict[int, list[float]] = {}
    timeline: dict[int, tuple[list[float], list[str]]] = {}  # cpu -> (switch times, who ran from each)
    first: float | None = None  # the trace's first event
    last: Hold | None = None  # the hold a following "<stack trace>" belongs to
    in_stack: list[str] | None = None
    for line in lines:
        if line.startswith(" => "):
            if in_stack is not None:
                in_stack.append(line[4:].strip().split("+")[0])
            continue
        if in_stack is not None and last is not None:
            last.stack = tuple(in_stack)
        in_stack = None
        m = _LINE.match(line)
        if m is None or line.startswith("#"):
            continue
        tid, ts, event = int(m["tid"]), float(m["ts"]), m["event"]
        first = ts if first is None else first
        if event == "<stack trace>":
            in_stack = []
            continue
        if event == "sched_wakeup":
            woken = int(dict(_FIELD.findall(m["rest"])).get("pid", "0"))
            wakeups.setdefault(woken, []).append(ts)
            if woken in queued and not queued[woken]:
                queued[woken] = ts
            continue
        if event == "sched_switch":
            s = _SWITCH.match(m["rest"])
            if s is None:
                continue
            prev, nxt, cpu = int(s["prev_pid"]), int(s["next_pid"]), int(m["cpu"])
            switches.setdefault(prev, []).append(Switch(ts, True, s["state"], cpu))
            switches.setdefault(nxt, []).append(Switch(ts, False, "", cpu))
            if prev in locking and not s["state"].startswith("R"):
                queued[prev] = 0.0
            timeline.setdefault(cpu, ([], []))[0].append(ts)
            timeline[cpu][1].append(f"{s['next_comm']} ({nxt})" if nxt else "idle")
            continue
        f = dict(_FIELD.findall(m["rest"] or ""))
        write = f.get("write") == "true"
        if event == EVENTS[0]:
            locking[tid] = (ts, write)
            queued.pop(tid, None)
        elif event == EVENTS[1]:
            began = locking.pop(tid, None)
            granted = queued.pop(tid, 0.0)
            if f.get("success") != "true":
                continue
            if write and tid in target_tids and began is not None:
                waits.append((tid, began[0], ts))
            if tid in open_holds:  # a downgrade (write -> read): the same hold goes on
                last = open_holds[tid]
                continue
            start = granted if granted and not write else ts
            last = open_holds[tid] = Hold(
                tid, m["comm"], write, start, ts, start - began[0] if began else 0.0
            )
            last.granted_asleep = start < ts
        elif event == EVENTS[2]:
            hold = open_holds.pop(tid, None)
            if hold is None and tid not in target_tids and first is not None:
                # taken before the trace began: a hold from then on, its call unknown
                hold = Hold(tid, m["comm"], write, first, ts, 0.0)
            if hold is not None:
                hold.end = ts
                holds.append(hold)
    if in_stack is not None and last is not None:
        last.stack = tuple(in_stack)
    for hold in holds:
        _off_cpu(hold, switches.get(hold.tid, []), timeline)
    readers = sorted((h for h in holds if h.tid not in target_tids), key=lambda h: h.start)
    out = []
    for tid, start, end in waits:
        wait = WriterWait(tid, start, end, [h for h in readers if h.start < end and h.end > start])
        woken = [t for t in wakeups.get(tid, []) if start <= t <= end]
        wait.wakeups = len(woken)
        wait.runnable = _runnable(switches.get(tid, []), woken, start, end)
        wait.unwoken = _unwoken(wait.holds, woken, end)
        out.append(wait)
    return holds, out


def _unwoken(holds: list[Hold], woken: list[float], end: float) -> float:
    """From the release of the last hold in a wait to the writer's wakeup after it: the lock was
    free and the writer asleep. The wakeup's ``sched_wakeup`` is recorded on the writer's CPU
    when that CPU takes it, so on an idle virtual CPU this is the time the host took to run it
    (the interrupt of a remote wakeup)."""
    if not holds:
        return 0.0
    released = max(h.end for h in holds)
    after = [t for t in woken if released <= t <= end]
    return (min(after) - released) if after else 0.0


def _runnable(switches: list[Switch], woken: list[float], start: float, end: float) -> float:
    """Time within [start, end] the task was runnable without a CPU: from each wakeup, or each
    switch-out in state R, to its next switch-in."""
    ready = sorted(
        [*woken, *(s.ts for s in switches if s.out and s.state.startswith("R") and start <= s.ts <= end)]
    )
    ins = [s.ts for s in switches if not s.out]
    total = 0.0
    for t in ready:
        i = bisect.bisect_left(ins, t)
        back = ins[i] if i < len(ins) else end
        total += max(0.0, min(back, end) - t)
    return total


def _off_cpu(hold: Hold, switches: list[Switch], timeline: dict[int, tuple[list[float], list[str]]]) -> None:
    away: Switch | None = None
    for s in switches:
        if s.ts > hold.end:
            break
        if s.out:
            away = s
            continue
        if away is not None and s.ts > hold.start:
            _count_away(hold, away, s.ts, timeline)
        away = None
    if away is not None:
        _count_away(hold, away, hold.end, timeline)


def _count_away(
    hold: Hold, away: Switch, back: float, timeline: dict[int, tuple[list[float], list[str]]]
) -> None:
    """Add [away, back] within the hold to its off-CPU time, and who ran on the CPU it left."""
    begin, end = max(away.ts, hold.start), min(back, hold.end)
    if end <= begin:
        return
    hold.off_cpu += end - begin
    if away.state.startswith("R"):
        hold.runnable += end - begin
        hold.preempted += away.ts >= hold.start
    elif away.ts < hold.start:  # asleep in the queue until the lock was granted at hold.start
        hold.runnable += end - begin
    times, who = timeline.get(away.cpu, ([], []))
    i = max(bisect.bisect_right(times, begin) - 1, 0)
    while i < len(times) and times[i] < end:
        until = times[i + 1] if i + 1 < len(times) else end
        span = min(until, end) - max(times[i], begin)
        if span > 0:
            hold.ran_instead[who[i]] = hold.ran_instead.get(who[i], 0.0) + span
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pid", type=int, required=True, help="the process whose mmap lock to watch")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--no-stacks", action="store_true", help="no kernel stack per read acquisition")
    options = parser.parse_args()
    with LockTrace(options.pid, stacks=not options.no_stacks) as trace, trace.recording() as out:
        time.sleep(options.seconds)
    print(out[0].report(options.top, indent="", holds=True))


if __name__ == "__main__":
    main()
