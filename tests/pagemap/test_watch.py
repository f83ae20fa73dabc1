"""The watch's schedule and ticks in the domain, against a real target."""

from __future__ import annotations

import pytest

from app.pagemap import Category, ProcessGone, ScanOptions, open_scan
from app.pagemap.watch import Schedule, Watch
from tests.support.target import Target


class TestSchedule:
    def test_tick_i_is_due_at_start_plus_i_intervals(self) -> None:
        schedule = Schedule(start=1000.0, interval=0.25, count=8)
        assert [schedule.due(i) for i in range(9)] == [1000.0 + i * 0.25 for i in range(9)]

    def test_late_means_over_when_the_next_was_due(self) -> None:
        schedule = Schedule(start=0.0, interval=1.0, count=3)
        assert not schedule.late(0, 0.999)
        assert not schedule.late(0, 1.0)
        assert schedule.late(0, 1.001)
        # A tick that started late (after an overrun) is on time if it ends before the next is due.
        assert not schedule.late(1, 1.9)


class TestWatch:
    def test_each_tick_is_a_whole_scan_of_the_same_process(self, target: Target) -> None:
        area = target.anon("a", 32)
        target.write(area, 0, 4)
        first = open_scan(
            target.pid, ScanOptions(start=area.start, end=area.end, category_mask=Category.PRESENT)
        )
        watch = Watch(first, target.page_size, chunk_records=2)
        try:
            assert [watch.tick().counts.pages for _ in range(2)] == [4, 4]
            target.write(area, 10, 6)
            tick = watch.tick()
            assert (tick.index, tick.counts.pages, tick.walk_end) == (2, 10, area.end)
            assert watch.ticks == 3
            target.exit(0)
            with pytest.raises(ProcessGone):
                watch.tick()
        finally:
            watch.close()
