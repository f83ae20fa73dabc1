"""bench/lock_holds.py: the analysis of a trace (holds, who was on the holder's CPU, writer waits and
the hold behind each) on a trace written here, and a real recording (root, tracefs) of a target
whose mmap lock this test holds with smaps_rollup and with count_scan."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from app.pagemap import Category, _pagemap
from bench import lock_holds
from tests.support.target import Target

MM = "mm=ffff888100000000 memcg_id=1"


def line(task: tuple[str, int], cpu: int, ts: float, event: str, rest: str) -> str:
    comm, tid = task
    return f"{comm:>16s}-{tid:<7d} [{cpu:03d}] ..... {ts:12.6f}: {event}: {rest}"


def switch(cpu: int, ts: float, prev: tuple[str, int], state: str, nxt: tuple[str, int]) -> str:
    return line(
        prev,
        cpu,
        ts,
        "sched_switch",
        f"prev_comm={prev[0]} prev_pid={prev[1]} prev_prio=120 prev_state={state} ==> "
        f"next_comm={nxt[0]} next_pid={nxt[1]} next_prio=120",
    )


READER, HOG, WRITER = ("pmscan-server", 200), ("hog", 300), ("pmtarget", 101)


def trace() -> list[str]:
    """A reader holds the lock 5 ms, preempted 4 ms of it by a hog (the writer waits 4.9 ms behind
    it); then a second read waits in the queue behind the writer, is granted the lock at its
    wakeup and waits 2 ms more for its CPU, which the hog has."""
    return [
        line(READER, 0, 1.000000, "mmap_lock_start_locking", f"{MM} write=false"),
        line(READER, 0, 1.000001, "mmap_lock_acquire_returned", f"{MM} write=false success=true"),
        line(READER, 0, 1.000002, "<stack trace>", "").rstrip(": "),
        " => trace_event_raw_event_mmap_lock_acquire_returned",
        " => __mmap_lock_do_trace_acquire_returned",
        " => do_pagemap_scan",
        " => __x64_sys_ioctl",
        " => do_syscall_64",
        line(WRITER, 1, 1.000100, "mmap_lock_start_locking", f"{MM} write=true"),
        switch(1, 1.000101, WRITER, "D", ("swapper/1", 0)),
        switch(0, 1.000500, READER, "R+", HOG),
        switch(0, 1.004500, HOG, "R", READER),
        line(READER, 0, 1.005001, "mmap_lock_released", f"{MM} write=false"),
        line(READER, 0, 1.005002, "sched_wakeup", "comm=pmtarget pid=101 prio=97 target_cpu=001"),
        switch(1, 1.005010, ("swapper/1", 0), "R", WRITER),
        line(WRITER, 1, 1.005011, "mmap_lock_acquire_returned", f"{MM} write=true success=true"),
        line(READER, 0, 1.005020, "mmap_lock_start_locking", f"{MM} write=false"),
        switch(0, 1.005021, READER, "D", HOG),
        line(WRITER, 1, 1.005030, "mmap_lock_released", f"{MM} write=true"),
        line(WRITER, 1, 1.005031, "sched_wakeup", "comm=pmscan-server pid=200 prio=120 target_cpu=000"),
        line(WRITER, 1, 1.005100, "mmap_lock_start_locking", f"{MM} write=true"),
        switch(1, 1.005101, WRITER, "D", ("swapper/1", 0)),
        switch(0, 1.007031, HOG, "R", READER),
        line(READER, 0, 1.007032, "mmap_lock_acquire_returned", f"{MM} write=false success=true"),
        line(READER, 0, 1.007100, "mmap_lock_released", f"{MM} write=false"),
        line(READER, 0, 1.007101, "sched_wakeup", "comm=pmtarget pid=101 prio=97 target_cpu=001"),
        switch(1, 1.007110, ("swapper/1", 0), "R", WRITER),
        line(WRITER, 1, 1.007111, "mmap_lock_acquire_returned", f"{MM} write=true success=true"),
        line(WRITER, 1, 1.007120, "mmap_lock_released", f"{MM} write=true"),
    ]


def test_the_analysis_of_a_trace() -> None:
    holds, waits = lock_holds.analyse(trace(), {WRITER[1]})
    readers = [h for h in holds if h.tid == READER[1]]
    assert len(readers) == 2
    first, second = readers
    assert first.seconds == pytest.approx(0.005, abs=1e-5)
    assert first.call == "ioctl: do_pagemap_scan < __x64_sys_ioctl"
    assert first.off_cpu == pytest.approx(0.004, abs=1e-5)
    assert first.runnable == first.off_cpu
    assert first.preempted == 1
    assert first.ran_instead == {"hog (300)": pytest.approx(0.004, abs=1e-5)}
    # granted the lock at its wakeup (1.005031), on its CPU at 1.007031
    assert second.granted_asleep
    assert second.start == pytest.approx(1.005031)
    assert second.runnable == pytest.approx(0.002, abs=1e-5)
    assert second.ran_instead == {"hog (300)": pytest.approx(0.002, abs=1e-5)}

    assert [round(w.seconds * 1e3, 2) for w in waits] == [4.91, 2.01]
    assert [w.longest for w in waits] == [first, second]
    assert all(w.wakeups == 1 for w in waits)
    report = lock_holds.Recording(101, 0, holds, waits, 1.0, 0, {200: "pmscan server"}, {101}).report(2)
    assert "4.91 ms  behind pmscan server, ioctl: do_pagemap_scan" in report
    assert "preempted 1x" in report
    assert "granted the lock asleep in the queue behind a writer" in report
    assert "over 1 ms, by what kept the lock: holder preempted 1, granted asleep 1, the walk" in report


@pytest.mark.skipif(lock_holds.unavailable() is not None, reason=str(lock_holds.unavailable()))
def test_a_recording(target: Target) -> None:
    """This process holds the target's lock (smaps_rollup, then count_scan) while the target's
    probe maps and unmaps: the recording finds both holders, by call, and the probe's waits."""
    area = target.anon("dense", 16384)  # 64 MiB written
    target.write(area, 0, 16384)
    target.stall("start")  # SCHED_FIFO or not, its waits are recorded
    try:
        with lock_holds.LockTrace(target.pid) as tracer, tracer.recording({os.getpid(): "the test"}) as out:
            deadline = time.monotonic() + 0.3
            fd = os.open(f"/proc/{target.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
            try:
                while time.monotonic() < deadline:
                    Path(f"/proc/{target.pid}/smaps_rollup").read_bytes()
                    _pagemap.count_scan(
                        fd, area.start, area.end, return_mask=int(Category.PRESENT), max_pages=1024
                    )
            finally:
                os.close(fd)
    finally:
        target.stall("stop")
    recording = out[0]
    calls = {h.call for h in recording.reader_holds() if h.tid == threading.get_native_id()}
    assert any("show_smaps_rollup" in c and c.startswith("read") for c in calls), calls
    assert any("do_pagemap_scan" in c and c.startswith("ioctl") for c in calls), calls
    assert recording.waits, "the probe never waited for the lock"
    assert recording.lost_events == 0
    assert any(w.longest is not None for w in recording.waits)
    assert "the test, main thread" in recording.report(3)


def test_a_hold_taken_before_the_trace_began() -> None:
    """A release with no acquisition before it in the trace is a hold from the trace's start."""
    other = ("pmscan-server", 400)
    lines = [
        line(WRITER, 1, 2.000000, "mmap_lock_start_locking", f"{MM} write=true"),
        line(other, 0, 2.003000, "mmap_lock_released", f"{MM} write=false"),
        line(WRITER, 1, 2.003010, "mmap_lock_acquire_returned", f"{MM} write=true success=true"),
    ]
    holds, waits = lock_holds.analyse(lines, {WRITER[1]})
    assert [(h.tid, h.start, h.end) for h in holds] == [(400, 2.0, 2.003)]
    assert waits[0].longest is holds[0]
    recording = lock_holds.Recording(101, 0, holds, waits, 1.0, 0, {}, {101}, {400: 400})
    assert recording.worst_behind(400) == pytest.approx(0.00301)
    assert recording.worst_behind(200) == 0.0
    assert "a call taken before the trace began" in recording.report(1)


def test_a_wakeup_that_comes_late() -> None:
    """The reader releases the lock; the writer's wakeup reaches its idle CPU 0.9 ms later (a
    virtual CPU the host was slow to run): the wait is the lock free, not the hold."""
    lines = [
        line(READER, 0, 3.000000, "mmap_lock_start_locking", f"{MM} write=false"),
        line(READER, 0, 3.000001, "mmap_lock_acquire_returned", f"{MM} write=false success=true"),
        line(WRITER, 1, 3.000100, "mmap_lock_start_locking", f"{MM} write=true"),
        switch(1, 3.000101, WRITER, "D", ("swapper/1", 0)),
        line(READER, 0, 3.000300, "mmap_lock_released", f"{MM} write=false"),
        line(("swapper/1", 0), 1, 3.001200, "sched_wakeup", "comm=pmtarget pid=101 prio=97 target_cpu=001"),
        switch(1, 3.001201, ("swapper/1", 0), "R", WRITER),
        line(WRITER, 1, 3.001202, "mmap_lock_acquire_returned", f"{MM} write=true success=true"),
    ]
    holds, waits = lock_holds.analyse(lines, {WRITER[1]})
    (wait,) = waits
    assert wait.seconds == pytest.approx(0.001102)
    assert wait.unwoken == pytest.approx(0.0009)
    recording = lock_holds.Recording(101, 0, holds, waits, 1.0, 0, {200: "pmscan server"}, {101})
    assert recording.causes()["the lock free, the writer's wakeup late"] == 1
    assert "0.90 ms from the release to its wakeup" in recording.report(1)
