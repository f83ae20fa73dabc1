"""The harness of test_readme: how examples are found in Markdown and how outputs are compared."""

from __future__ import annotations

from tests.docs._examples import differences, examples, map_differences

DOCUMENT = """\
# Title

## Scanning

```sh
curl -s 127.0.0.1:6716/scan \\
     -d '{}'
```
```
{"start":1,"end":2,"categories":["WRITTEN","PRESENT"]}
...
{"walk_end":3,"regions":1,"pages":1}
```

```sh
echo no output shown
```

Text.

```
$ pmscan map 12
pid 12: 3 rows
```
"""


class TestExamples:
    def test_both_forms_are_found(self) -> None:
        first, second = examples(DOCUMENT)
        assert first.command == "curl -s 127.0.0.1:6716/scan \\\n     -d '{}'\n"
        assert first.output.count("\n") == 3
        assert (first.section, first.line, first.program) == ("Scanning", 5, "curl")
        assert (second.command, second.output, second.program) == (
            "pmscan map 12",
            "pid 12: 3 rows\n",
            "pmscan",
        )

    def test_a_block_without_output_is_no_example(self) -> None:
        assert all("echo" not in e.command for e in examples(DOCUMENT))


class TestDifferences:
    REGION = '{"start":1,"end":2,"categories":["WRITTEN","PRESENT"]}'
    TRAILER = '{"walk_end":3,"regions":1,"pages":1}'
    PRINTED = f"{REGION}\n...\n{TRAILER}\n"

    def test_numbers_and_addresses_differ_freely(self) -> None:
        actual = (
            '{"start":10,"end":20,"categories":["WRITTEN","PRESENT"]}\n{"walk_end":30,"regions":9,"pages":7}'
        )
        assert differences(self.PRINTED, actual) == []
        assert differences('{"start":"0x10","late":false}', '{"start":"0x7f00","late":true}') == []

    def test_category_lists_must_be_equal(self) -> None:
        actual = '{"start":1,"end":2,"categories":["FILE","PRESENT"]}\n{"walk_end":3,"regions":1,"pages":1}'
        assert differences(self.PRINTED, actual)

    def test_keys_must_be_equal(self) -> None:
        actual = '{"start":1,"end":2,"categories":["WRITTEN","PRESENT"]}\n{"walk_end":3,"regions":1}'
        assert differences(self.PRINTED, actual)

    def test_the_gap_takes_lines_like_the_one_before_it(self) -> None:
        region, trailer = self.REGION, self.TRAILER
        assert differences(self.PRINTED, "\n".join([region, region, region, trailer])) == []
        assert differences(self.PRINTED, "\n".join([region, trailer, trailer]))

    def test_without_a_gap_the_count_is_fixed(self) -> None:
        assert differences("{}\n{}\n", "{}\n")
        assert differences("{}\n", "{}\n{}\n")

    def test_text_lines_keep_their_words_and_markers(self) -> None:
        printed = " ffffffffffffffff 00007ffcaadac000 000000000000002d\n"
        assert differences(printed, " ffffffffffffffff 00007f0000001000 0000000000000011") == []
        assert differences(printed, " fffffffffffffffe 00007f0000001000 0000000000000011")
        assert differences("pid 12: 3 rows\n", "pid 999: 41 rows") == []
        assert differences("pid 12: 3 rows\n", "pid 999: 41 lines")

    def test_a_size_goes_with_its_unit(self) -> None:
        assert differences("    1  0 B/s\n", "    1  16.2 KiB/s") == []
        assert differences("Z zero page 4.0 KiB\n", "Z zero page 0 B") == []
        assert differences("320.2 MiB mapped\n", "320.2 MiB populated")
        assert differences("4 pages\n", "4 KiB")


class TestMapDifferences:
    PICTURE = """\
pid 12: 4 rows, 320.2 MiB mapped, 125.3 MiB populated
     address perm       size pages    mapping
55a8b233d000 r--p+  20.0 KiB FFFF..AA python3.11
55a8e39f8000 rw-p    1.0 MiB AAAAAAAa [heap]
7f080d89c000 rw-s  256.0 MiB FF...... zero (deleted)
7ffe466ae000 rw-p  132.0 KiB ....AAAA [stack]

G guard 0 B   Z zero page 4.0 KiB
a (lower case) mostly not populated   . not populated
"""

    def _with(self, old: str, new: str) -> str:
        assert old in self.PICTURE
        return self.PICTURE.replace(old, new)

    def test_rows_differ_in_number_names_and_letters(self) -> None:
        actual = self._with("python3.11", "python3").replace("FFFF..AA", "F.F.Zzaa")
        actual = actual.replace("[heap]\n", "[heap]\n7f0000001000 r-xp+   1.9 MiB FFFFF... libc.so.6\n")
        assert map_differences(self.PICTURE, actual) == []
        fewer = self._with("55a8b233d000 r--p+  20.0 KiB FFFF..AA python3.11\n", "")
        assert map_differences(self.PICTURE, fewer) == []

    def test_cells_keep_their_width_and_letters(self) -> None:
        assert map_differences(self.PICTURE, self._with("FFFF..AA", "FFFF..A"))
        assert map_differences(self.PICTURE, self._with("FFFF..AA", "FFFF..AX"))

    def test_the_programs_own_rows_keep_their_names(self) -> None:
        assert map_differences(self.PICTURE, self._with("[heap]", "[brk]"))
        assert map_differences(self.PICTURE, self._with("zero (deleted)", "zero"))

    def test_rows_keep_their_form(self) -> None:
        assert map_differences(self.PICTURE, self._with("r--p+", "r--+p"))  # no row: the legend differs
        assert map_differences(self.PICTURE, self._with("rw-s ", "rwxs+")) == []

    def test_the_header_and_legend_keep_their_words(self) -> None:
        assert map_differences(self.PICTURE, self._with("mapped", "used"))
        assert map_differences(self.PICTURE, self._with("perm ", "mode "))
        assert map_differences(self.PICTURE, self._with("zero page", "zero"))
        assert map_differences(self.PICTURE, self.PICTURE + "perm+: the row joins mappings\n")
