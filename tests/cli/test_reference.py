"""The README's reference is the commands' own help, generated: it names every command and option
and cannot drift from `--help`."""

import typer

from conftest import ROOT
from forecast.cli.commands import app
from forecast.cli.reference import END, START, generated_block, reference, update

README = ROOT / "README.md"


def all_commands():
    command = typer.main.get_command(app)
    found = {"": command}
    for name, sub in command.commands.items():
        found[name] = sub
        found.update({f"{name} {n}": c for n, c in getattr(sub, "commands", {}).items()})
    return found


def test_the_readme_reference_is_the_generated_one():
    assert generated_block(README) == reference(app), (
        "README.md's reference is stale: run `python -m forecast.cli.reference README.md`"
    )


def test_the_reference_names_every_command_option_and_help_text():
    text = reference(app)
    for name, command in all_commands().items():
        if name and not hasattr(command, "commands"):
            assert f"### forecast {name}\n" in text
        for param in command.params:
            if getattr(param, "hidden", False):  # an old spelling, named in its successor's help instead
                continue
            assert param.help, f"{name} {param.name} has no help text"
            assert param.help.replace("|", "\\|") in text
            for flag in param.opts:
                if flag.startswith("--"):
                    assert f"`{flag}`" in text, f"the reference lacks {name} {flag}"


def test_a_changed_help_text_makes_the_readme_stale(tmp_path, monkeypatch):
    copy = tmp_path / "README.md"
    copy.write_text(f"intro\n{START}\nold text\n{END}\noutro\n")
    assert update(copy, app) and generated_block(copy) == reference(app)
    assert copy.read_text().startswith("intro\n") and copy.read_text().endswith(f"{END}\noutro\n")
    assert not update(copy, app)  # up to date: nothing to rewrite
    group = typer.main.get_command(app)
    monkeypatch.setattr(group.commands["predict"].params[1], "help", "Steps to forecast, described differently.")
    assert "described differently" in reference(group) and generated_block(copy) != reference(group)


def test_the_readme_lists_every_exit_code():
    readme = README.read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 75 |", "| 130 |", "| 143 |"):
        assert code in readme, f"README's exit codes lack {code}"
