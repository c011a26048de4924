"""Every ``gerbang`` line in the README's shell blocks parses with the CLI as it is (names, options, arguments):
a command the README shows cannot fail with "no such option" (as ``gerbang apps suspend parkir`` once did)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from gateway.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    lines = []
    for line in text.splitlines():
        line = line.split("  #")[0].strip()
        match = re.search(r"(?:^|\| |&& )(gerbang .*)$", line)
        if match and "$(" not in match.group(1):
            lines.append(match.group(1))
    return lines


@pytest.mark.parametrize("line", _readme_commands())
def test_the_readme_command_parses(line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    words = shlex.split(line)[1:]
    if ">" in words:
        words = words[: words.index(">")]
    if words == ["--version"]:
        return  # tests/unit/test_cli_help.py
    monkeypatch.chdir(tmp_path)
    for word in words:  # the files a command reads exist here (their content is not what this test checks)
        if re.search(r"\.(csv|yaml|pem|tar\.gz)$", word) and "/" not in word:
            (tmp_path / word).write_text("")
    command: click.Command = main
    parent = click.Context(main, info_name="gerbang")
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        found = command.get_command(parent, words[0])
        assert found is not None, f"no command {words[0]!r} in: {line}"
        command, words = found, words[1:]
        parent = click.Context(command, info_name=command.name, parent=parent)
    command.make_context(command.name, list(words), parent=parent.parent)  # raises on an unknown option


def test_the_readme_shows_the_day_two_commands() -> None:
    shown = " ".join(_readme_commands())
    for command in ("apps suspend parkir", "apply", "export", "backup", "restore", "admins add", "users import"):
        assert f"gerbang {command}" in shown
