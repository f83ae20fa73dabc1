"""Process groups: the configuration's rules (each refusal names the group) and matching real
processes by comm, exe, cmdline and cgroup, the first group winning."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.export.groups import ProcessFacts, first_group, parse_groups
from app.export.members import find_members
from tests.support.cgroups import CgroupUnavailableError, TemporaryCgroup
from tests.support.children import named_sleep, sleepers
from tests.support.metrics import until


class TestConfiguration:
    def test_order_is_kept(self) -> None:
        groups = parse_groups('{"b": {"comm": "x"}, "a": {"exe": "y"}, "c": {"cgroup": "/z"}}')
        assert [(g.name, g.key) for g in groups] == [("b", "comm"), ("a", "exe"), ("c", "cgroup")]

    @pytest.mark.parametrize(
        ("config", "message"),
        [
            ('{"web": {"comm": "ng(inx"}}', "group 'web': invalid comm regex"),
            ('{"web": {"name": "nginx"}}', "group 'web': unknown matcher key 'name'"),
            ('{"web": {"comm": "a", "exe": "b"}}', "group 'web': the matcher is an object with one key"),
            ('{"web": {}}', "group 'web': the matcher is an object with one key"),
            ('{"web": {"comm": 3}}', "group 'web': the comm matcher is a string"),
            ('{"web": {"cgroup": "/a/../b"}}', "group 'web': cgroup '/a/../b'"),
            ('{"web": {"comm": "a"}, "web": {"comm": "b"}}', "group 'web' is given twice"),
            ('{"": {"comm": "a"}}', "group '': a name is 1 to 128 printable characters"),
            ('["web"]', "a JSON object of group name to matcher"),
            ("{web}", "not JSON"),
        ],
    )
    def test_refusals_name_the_group(self, config: str, message: str) -> None:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_groups(config)


def executed(pid: int) -> None:
    """Wait until ``pid``'s exec is over: Popen returns when the old program's close-on-exec
    descriptors are closed, before the kernel sets the new program's argument area (until then
    /proc/PID/cmdline reads empty)."""
    until(lambda: Path(f"/proc/{pid}/cmdline").read_bytes() != b"", f"process {pid} to finish its exec")


@pytest.fixture
def sleeper_binary(tmp_path: Path) -> Iterator[Path]:
    with named_sleep(tmp_path) as path:
        yield path


class TestMatching:
    def test_comm_exe_and_cmdline_match_whole_values(self, sleeper_binary: Path) -> None:
        name = sleeper_binary.name
        with sleepers(1, argv=[str(sleeper_binary), "1000"]) as (process,):
            executed(process.pid)
            facts = ProcessFacts(process.pid, name)
            groups = parse_groups(
                {
                    "partial-comm": {"comm": name[:-1]},  # a prefix is not a whole match
                    "partial-cmdline": {"cmdline": re.escape(str(sleeper_binary))},
                    "cmdline": {"cmdline": re.escape(f"{sleeper_binary} 1000")},
                }
            )
            group = first_group(facts, groups)
            assert group is not None and group.name == "cmdline"
            assert facts.value("exe") == os.readlink(f"/proc/{process.pid}/exe")
            exe = parse_groups({"exe": {"exe": re.escape(str(sleeper_binary))}, "comm": {"comm": name}})
            assert first_group(facts, exe) == exe[0]  # the first group that matches wins
            assert first_group(facts, exe[1:]) == exe[1]

    def test_find_members_by_group_and_excluded(self, sleeper_binary: Path) -> None:
        groups = parse_groups({"mine": {"comm": sleeper_binary.name}})
        with sleepers(3, argv=[str(sleeper_binary), "1000"]) as processes:
            pids = [p.pid for p in processes]
            members = find_members(groups, containers=False, exclude={pids[0]})
        assert [(m.pid, m.group) for m in members] == [(pid, "mine") for pid in sorted(pids[1:])]

    def test_cgroup(self, sleeper_binary: Path) -> None:
        try:
            cgroup = TemporaryCgroup()
        except CgroupUnavailableError as e:
            pytest.skip(str(e))
        with cgroup, sleepers(2, argv=[str(sleeper_binary), "1000"]) as (inside, outside):
            cgroup.make("child")
            cgroup.add(inside.pid, "child")
            groups = parse_groups({"cg": {"cgroup": cgroup.spec()}, "rest": {"comm": sleeper_binary.name}})
            found = {m.pid: m.group for m in find_members(groups, containers=False)}
            assert found[inside.pid] == "cg"
            assert found[outside.pid] == "rest"
