"""The examples of a Markdown document, and how an output compares with the one it shows.

An *example* is a command whose output the document prints, in one of two forms:

- a ```` ```sh ```` block directly followed by an output block (```` ``` ````, ```` ```json ```` or
  ```` ```text ````): the command is the whole ``sh`` block;
- an output block whose first line is ``$ COMMAND``: the command is that line, the output the rest.

Outputs are compared by *shape*, since pids, addresses, times and counts differ from run to run:
a JSON line keeps its keys, the category lists of its regions (``"categories": [...]``) and its
other strings, and has every number, boolean and ``0x`` address replaced by its kind; a text line
keeps its words and has every number replaced. A line ``...`` in the document stands for any
number of lines of the same kind as the line before it; otherwise the number of lines must match.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Block", "Example", "blocks", "differences", "examples", "shape"]

OUTPUT_INFOS = {"", "json", "text"}
_FENCE = re.compile(r"^(```+)\s*([\w+-]*)\s*$")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_NUMBERS = re.compile(r"0x[0-9a-fA-F]+|[0-9a-fA-F]{8,}|\d+(?:[.,]\d+)*")
#: Words of a text output kept as they are although they look like numbers: the kernel's
#: end-of-answer and error markers among the raw records (2^64-1 and 2^64-2, as od prints them).
_KEPT_WORDS = {"ffffffffffffffff", "fffffffffffffffe"}


@dataclass(frozen=True)
class Block:
    """A fenced block: its info string (``sh``, ``json``, ``""`` …), text, the line of its opening
    fence (1-based) and the heading it is under (without its ``#`` marks)."""

    info: str
    text: str
    line: int
    section: str


@dataclass(frozen=True)
class Example:
    """A command as printed, the output printed for it, where it is and under which heading."""

    command: str
    output: str
    line: int
    section: str

    @property
    def program(self) -> str:
        """The command's first word (``curl``, ``pmscan``), ``$`` prompts and variables set before
        it aside."""
        for word in self.command.split():
            if word != "$" and "=" not in word:
                return word
        return ""

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.program}"


def blocks(markdown: str) -> list[Block]:
    """Every fenced block of ``markdown``, in order."""
    found: list[Block] = []
    section = ""
    fence: tuple[str, str, int] | None = None  # (marks, info, line)
    body: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None:
            if match:
                fence = (match.group(1), match.group(2), number)
                body = []
            elif heading := _HEADING.match(line):
                section = heading.group(2)
        elif match and match.group(1) == fence[0] and not match.group(2):
            found.append(Block(fence[1], "\n".join(body) + "\n", fence[2], section))
            fence = None
        else:
            body.append(line)
    return found


def examples(markdown: str) -> list[Example]:
    """The examples of ``markdown`` (see the module's docstring), in order."""
    lines = markdown.splitlines()
    found: list[Example] = []
    all_blocks = blocks(markdown)
    for block, after in zip(all_blocks, [*all_blocks[1:], None], strict=True):
        if block.info in OUTPUT_INFOS and block.text.startswith("$ "):
            command, _, output = block.text.partition("\n")
            found.append(Example(command.removeprefix("$ "), output, block.line, block.section))
        elif block.info == "sh" and after is not None and after.info in OUTPUT_INFOS:
            end_of_block = block.line + block.text.count("\n") + 1  # its closing fence
            between = lines[end_of_block : after.line - 1]
            if all(not line.strip() for line in between):
                found.append(Example(block.text, after.text, block.line, block.section))
    return found


def shape(value: Any) -> Any:
    """A JSON value with what differs between runs replaced by its kind (see the module)."""
    if isinstance(value, dict):
        return {
            key: item if key == "categories" and isinstance(item, list) else shape(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [shape(item) for item in value]
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, int | float):
        return "<number>"
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]+", value):
        return "<address>"
    return value


def _line_shape(line: str) -> Any:
    text = line.strip()
    if text.startswith(("{", "[")):
        try:
            return shape(json.loads(text))
        except json.JSONDecodeError:
            pass
    return [word if word in _KEPT_WORDS else _NUMBERS.sub("#", word) for word in text.split()]


def _kind(line_shape: Any) -> Any:
    """What makes two lines "of the same kind": a JSON object's keys, a text line's word count."""
    if isinstance(line_shape, dict):
        return sorted(line_shape)
    return len(line_shape) if isinstance(line_shape, list) else type(line_shape).__name__


def differences(printed: str, actual: str) -> list[str]:
    """How ``actual`` (an output) differs in shape from ``printed`` (the document's); [] if not."""
    expected = [line for line in printed.strip("\n").splitlines()]
    got = [line for line in actual.strip("\n").splitlines()]
    gaps = [i for i, line in enumerate(expected) if line.strip() == "..."]
    if len(gaps) > 1:
        return ["the printed output has more than one '...' line"]
    if not gaps:
        if len(got) != len(expected):
            return [f"{len(got)} lines, the document shows {len(expected)}:\n{actual}"]
        pairs = list(zip(expected, got, strict=True))
        middle: list[str] = []
    else:
        head, tail = expected[: gaps[0]], expected[gaps[0] + 1 :]
        if len(got) < len(head) + len(tail):
            return [f"{len(got)} lines, the document shows at least {len(head) + len(tail)}:\n{actual}"]
        pairs = list(zip(head, got, strict=False)) + list(zip(tail, got[len(got) - len(tail) :], strict=True))
        middle = got[len(head) : len(got) - len(tail)]
    found = [
        f"the document shows\n  {want}\nthe command printed\n  {line}"
        for want, line in pairs
        if _line_shape(want) != _line_shape(line)
    ]
    if gaps and middle:
        like = _kind(_line_shape(expected[gaps[0] - 1])) if gaps[0] else None
        found += [
            f"a line in place of '...' is not like the one before it:\n  {line}"
            for line in middle
            if _kind(_line_shape(line)) != like
        ]
    return found
