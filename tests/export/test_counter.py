"""The exporter's count of one process: the same whatever the span that bounds each kernel
call, each call within it, and the same regions as the kernel's one-call answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from app.export.count import count_process
from app.export.counter import ProcessChanged, ProcessCounter
from app.pagemap import (
    Category,
    IoctlBackend,
    ProcessGone,
    ProcessNotFound,
    Scan,
    ScanArgs,
    TargetProcess,
    probe,
)
from app.pagemap.exceptions import Denied, NotOwner
from app.pagemap.policy import ProcessCredentials, process_rule
from app.pagemap.probe import kept_pagemap_fails_once_gone
from app.pagemap.region import RECORD
from app.pagemap.summary import Counts, summarize
from tests.support.children import zombie
from tests.support.target import Target, wait_blocked_in_read
from tests.support.users import NOBODY, OTHER, as_user, running_as_root, sleeper

EXPORTED = Category.PRESENT | Category.SWAPPED | Category.HUGE | Category.PFNZERO


class CountingBackend(IoctlBackend):
    """The kernel's ioctl, recording the pages of each call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def scan(
        self, target: TargetProcess, start: int, args: ScanArgs, *, max_pages: int, vec_len: int
    ) -> tuple[bytes, int, int]:
        answer = super().scan(target, start, args, max_pages=max_pages, vec_len=vec_len)
        self.calls.append(answer[2])
        return answer


@pytest.fixture
def layout(target: Target, tmp_path: Path) -> Target:
    dense = target.anon("dense", 4096)  # 16 MiB written
    target.write(dense, 0, 4096)
    target.read(target.anon("zero", 512), 0, 256, 2)
    target.thp("thp", 8)
    file = target.file("file", tmp_path / "data", 256)
    target.write(file, 0, 128)
    return target


class TestSpan:
    @pytest.mark.parametrize("span_pages", [1, 100, 512, 4096])
    def test_counts_do_not_depend_on_the_span(self, layout: Target, span_pages: int) -> None:
        page_size = layout.page_size
        whole = count_process(layout.pid, categories=EXPORTED, page_size=page_size, span_pages=0)
        spanned = count_process(layout.pid, categories=EXPORTED, page_size=page_size, span_pages=span_pages)
        assert spanned == whole
        assert whole.by_category[Category.PRESENT] >= 4096 + 2048

    def test_each_kernel_call_walks_at_most_the_span(self, layout: Target) -> None:
        kernel = probe()
        span = 1024
        with TargetProcess(layout.pid) as process:
            low, high = process.mapped_range(kernel.user_address_limit)
            args = ScanArgs(start=low, end=high, return_mask=int(EXPORTED))
            backend = CountingBackend()
            scan = Scan(process, args, backend, span_pages=span)
            counted = summarize(scan, kernel.page_size).total
            backend_once = CountingBackend()
            once = Scan(process, args, backend_once, chunk_records=1 << 20)
            records = once.run()
        assert max(backend.calls) <= span
        assert len(backend.calls) >= counted.pages // span
        assert len(backend_once.calls) < len(backend.calls)
        assert counted.pages == sum(
            (end - start) // kernel.page_size for start, end, _ in RECORD.iter_unpack(records)
        )

    def test_a_process_that_exited_raises_what_the_exporter_skips(self) -> None:
        with zombie() as pid, pytest.raises(ProcessGone):
            count_process(pid, categories=EXPORTED, page_size=4096, span_pages=16)
        with pytest.raises(ProcessNotFound):
            count_process(pid, categories=EXPORTED, page_size=4096, span_pages=16)  # reaped


class TestProcessCounter:
    """Counting the same processes collection after collection with their files kept open: the
    numbers of a fresh count, and never another process's (kernel-notes 22)."""

    def counter(self, keep: int = 16) -> ProcessCounter:
        return ProcessCounter(categories=EXPORTED, page_size=probe().page_size, span_pages=1024, keep=keep)

    def fresh(self, pid: int) -> Counts:
        return count_process(pid, categories=EXPORTED, page_size=probe().page_size, span_pages=1024)

    def test_this_kernel_refuses_a_kept_pagemap_once_its_memory_is_gone(self) -> None:
        assert kept_pagemap_fails_once_gone()

    def test_kept_counts_follow_the_process_as_a_fresh_count_does(self, layout: Target) -> None:
        counter = self.counter()
        try:
            for collection in range(3):
                counter.begin()
                assert counter.count(layout.pid, deadline=None, authorize=None) == self.fresh(layout.pid)
                assert counter.kept == 1
                more = layout.anon(f"more{collection}", 256)  # the process changes in between
                layout.write(more, 0, 256)
        finally:
            counter.close()

    def test_a_process_that_runs_a_new_program_is_counted_anew(self, target_binary: Path) -> None:
        shell = subprocess.Popen(
            ["sh", "-c", 'echo ready && read line && exec "$0"', str(target_binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert shell.stdin is not None and shell.stdout is not None
        counter = self.counter()
        try:
            assert shell.stdout.readline() == b"ready\n"  # the shell runs (its exec is done)
            wait_blocked_in_read(shell.pid)
            counter.begin()
            before = counter.count(shell.pid, deadline=None, authorize=None)
            assert before == self.fresh(shell.pid)
            shell.stdin.write(b"go\n")
            shell.stdin.flush()
            assert json.loads(shell.stdout.readline())["pid"] == shell.pid  # pmtarget runs now
            wait_blocked_in_read(shell.pid)
            counter.begin()
            after = counter.count(shell.pid, deadline=None, authorize=None)
            assert after == self.fresh(shell.pid)
            assert after.pages != before.pages  # the kept file of the shell's memory was not used
            assert counter.kept == 1
        finally:
            counter.close()
            shell.kill()
            shell.wait()
            shell.stdin.close()
            shell.stdout.close()

    def test_the_exe_is_remembered_until_the_process_runs_a_new_program(self, target_binary: Path) -> None:
        """With ``remember_exe``, the exe read when the files were opened is the process's; once
        it runs another program, ``reopen=False`` refuses to count what runs under its pid, and
        the next count reads its new exe."""
        shell = subprocess.Popen(
            ["sh", "-c", 'echo ready && read line && exec "$0"', str(target_binary)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert shell.stdin is not None and shell.stdout is not None
        counter = ProcessCounter(
            categories=EXPORTED, page_size=probe().page_size, span_pages=1024, keep=16, remember_exe=True
        )
        try:
            assert shell.stdout.readline() == b"ready\n"
            wait_blocked_in_read(shell.pid)
            assert counter.exe(shell.pid) is None  # nothing kept yet
            counter.begin()
            counter.count(shell.pid, deadline=None, authorize=None)
            assert counter.exe(shell.pid) == os.readlink(f"/proc/{shell.pid}/exe")
            kept = counter.count(shell.pid, deadline=None, authorize=None, reopen=False)
            assert kept == self.fresh(shell.pid)
            shell.stdin.write(b"go\n")
            shell.stdin.flush()
            assert json.loads(shell.stdout.readline())["pid"] == shell.pid  # pmtarget runs now
            wait_blocked_in_read(shell.pid)
            counter.begin()
            with pytest.raises(ProcessChanged):
                counter.count(shell.pid, deadline=None, authorize=None, reopen=False)
            assert counter.kept == 0 and counter.exe(shell.pid) is None
            assert counter.count(shell.pid, deadline=None, authorize=None) == self.fresh(shell.pid)
            assert counter.exe(shell.pid) == str(target_binary)
        finally:
            counter.close()
            shell.kill()
            shell.wait()
            shell.stdin.close()
            shell.stdout.close()

    def test_an_exited_process_is_skipped_and_its_files_closed(self, target_binary: Path) -> None:
        counter = self.counter()
        try:
            with Target(target_binary) as doomed:
                open_before = len(os.listdir("/proc/self/fd"))
                counter.begin()
                counter.count(doomed.pid, deadline=None, authorize=None)
                assert counter.kept == 1
                assert len(os.listdir("/proc/self/fd")) == open_before + 2
                pid = doomed.pid
            counter.begin()
            with pytest.raises((ProcessGone, ProcessNotFound)):
                counter.count(pid, deadline=None, authorize=None)
            assert counter.kept == 0
            assert len(os.listdir("/proc/self/fd")) == open_before - 2  # and the target's pipes
        finally:
            counter.close()

    def test_those_a_collection_did_not_count_are_closed(self, target_binary: Path) -> None:
        counter = self.counter()
        try:
            with Target(target_binary) as one, Target(target_binary) as two:
                open_before = len(os.listdir("/proc/self/fd"))
                counter.begin()
                for pid in (one.pid, two.pid):
                    counter.count(pid, deadline=None, authorize=None)
                counter.begin()
                counter.count(one.pid, deadline=None, authorize=None)
                counter.forget_others()
                assert counter.kept == 1
                assert len(os.listdir("/proc/self/fd")) == open_before + 2
                counter.close()
                assert len(os.listdir("/proc/self/fd")) == open_before
        finally:
            counter.close()

    def test_at_most_keep_processes_are_kept(self, target_binary: Path) -> None:
        counter = self.counter(keep=1)
        try:
            with Target(target_binary) as one, Target(target_binary) as two:
                counter.begin()
                for pid in (one.pid, two.pid):
                    assert counter.count(pid, deadline=None, authorize=None) == self.fresh(pid)
                assert counter.kept == 1
        finally:
            counter.close()

    def test_every_count_asks_the_rule_and_a_refusal_keeps_nothing(self, layout: Target) -> None:
        asked: list[int] = []
        refuse = False

        def rule(credentials: ProcessCredentials) -> None:
            asked.append(credentials.pid)
            assert credentials.owner == os.stat(f"/proc/{layout.pid}").st_uid
            # the status read by path, confirmed the kept process's afterwards
            status = Path(f"/proc/{layout.pid}/status").read_text()
            (uids,) = (line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
            assert credentials.uids == tuple(int(uid) for uid in uids)
            if refuse:
                raise PermissionError("refused")

        counter = self.counter()
        try:
            for _ in range(2):
                counter.begin()
                counter.count(layout.pid, deadline=None, authorize=rule)
            assert asked == [layout.pid, layout.pid]
            refuse = True
            counter.begin()
            with pytest.raises(PermissionError):
                counter.count(layout.pid, deadline=None, authorize=rule)
            assert counter.kept == 0
        finally:
            counter.close()

    def test_without_keeping_it_counts_as_count_process(self, layout: Target) -> None:
        counter = self.counter(keep=0)
        counter.begin()
        assert counter.count(layout.pid, deadline=None, authorize=None) == self.fresh(layout.pid)
        assert counter.kept == 0


#: A process that, told to on its stdin, makes itself not dumpable (prctl(PR_SET_DUMPABLE, 0)): its
#: ``/proc/PID`` then belongs to root, as after a change of credentials, and it runs the same
#: program with the same memory (its kept files stay valid).
UNDUMPABLE = """
import ctypes, sys
print("ready", flush=True)
sys.stdin.readline()
ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
print("done", flush=True)
sys.stdin.readline()
"""


@contextmanager
def becomes_undumpable(uid: int) -> Iterator[subprocess.Popen[str]]:
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    process = subprocess.Popen(
        [*as_user(uid), python, "-c", UNDUMPABLE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline() == "ready\n"
        yield process
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()


@pytest.mark.skipif(not running_as_root(), reason="processes of other users need root")
class TestRuleOfTheExporter:
    """pmscan's rule holds for every count of the counter, kept or not: a denied or foreign
    process is never counted, against real processes of other users."""

    def counter(self) -> ProcessCounter:
        return ProcessCounter(categories=EXPORTED, page_size=probe().page_size, span_pages=1024, keep=16)

    def test_a_denied_process_is_never_counted(self) -> None:
        counter = self.counter()
        try:
            with sleeper(OTHER) as process:
                with pytest.raises(Denied):
                    counter.count(process.pid, deadline=None, authorize=process_rule(deny=[process.pid]))
                assert counter.kept == 0
                allowed = process_rule()
                for _ in range(2):  # kept: the rule that looks at the pid alone is not asked again
                    counter.begin()
                    counts = counter.count(process.pid, deadline=None, authorize=allowed)
                    assert counts.pages == int(Path(f"/proc/{process.pid}/statm").read_text().split()[0])
                assert counter.kept == 1
                # Another rule is asked, even for a kept process.
                with pytest.raises(Denied):
                    counter.count(process.pid, deadline=None, authorize=process_rule(deny=[process.pid]))
                assert counter.kept == 0
            with pytest.raises(Denied):
                counter.count(os.getpid(), deadline=None, authorize=process_rule())
        finally:
            counter.close()

    def test_a_process_of_another_owner_is_never_counted(self) -> None:
        counter = self.counter()
        try:
            with sleeper(OTHER) as foreign, sleeper(NOBODY) as own:
                rule = process_rule(uid=NOBODY)
                for _ in range(2):
                    counter.begin()
                    with pytest.raises(NotOwner):
                        counter.count(foreign.pid, deadline=None, authorize=rule)
                    counter.count(own.pid, deadline=None, authorize=rule)
                assert counter.kept == 1
        finally:
            counter.close()

    def test_an_owner_rule_is_asked_again_on_every_count(self) -> None:
        """A kept process whose ``/proc/PID`` changes owner (it is no longer dumpable: what a
        change of credentials does) is refused on its next count, with its files still kept."""
        counter = self.counter()
        rule = process_rule(uid=NOBODY)
        try:
            with becomes_undumpable(NOBODY) as process:
                assert process.stdin is not None and process.stdout is not None
                counter.begin()
                counter.count(process.pid, deadline=None, authorize=rule)
                assert counter.kept == 1
                process.stdin.write("go\n")
                process.stdin.flush()
                assert process.stdout.readline() == "done\n"
                assert os.stat(f"/proc/{process.pid}/statm").st_uid == 0  # what the counter reads
                counter.begin()
                with pytest.raises(NotOwner):
                    counter.count(process.pid, deadline=None, authorize=rule)
                assert counter.kept == 0
        finally:
            counter.close()
