"""The harness of test_readme: how examples are found in Markdown and how outputs are compared."""

from __future__ import annotations

from tests.docs._examples import differences, examples

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
