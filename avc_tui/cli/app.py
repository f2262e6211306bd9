"""The ``avc`` Typer application: every command registered in one place, the terminal UI when
called without one, and the error funnel (an ``AvcError`` prints one ``error:`` line and one
``hint:`` line and exits with status 1, never a traceback).

The command modules hold plain functions; none of them imports this module.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperCommand, TyperGroup

from avc_tui.cli import browse, catalog, data, demo, launch, lifecycle, predict
from avc_tui.cli.options import Db
from avc_tui.console import console, print_error
from avc_tui.logs import ENV as LOG_ENV
from avc_tui.logs import configure, level_name
from core.errors import AvcError, resource_error

HELP = "Attention-based video classification: reproduce ABDN and friends, run and compare them."


def _bare_flags(params: list[Any]) -> list[Any]:
    """A flag takes no value: its help line shows no type (Typer would show ``<bool>``)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """An avc command: flags without a type in their help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


class Group(TyperGroup):
    """The avc group (and ``avc data``): flags without a type in their help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _bare_flags(super().get_params(ctx))


def handles_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn an ``AvcError`` (or a full disk, or no memory left) into an ``error:`` and a
    ``hint:`` line and exit status 1, Ctrl-C into status 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AvcError as error:
            print_error(error)
            raise typer.Exit(1) from None
        except (OSError, MemoryError, RuntimeError) as exc:  # a full disk, no memory left
            error = resource_error(exc)
            if error is None:
                raise
            print_error(error)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper


def tui(db: Db = None) -> None:
    """The terminal UI: live dashboard, experiment details, compare, predict, launch."""
    from avc_tui.tui.app import AvcApp

    AvcApp(db).run()


def _print_version(context: typer.Context, value: bool) -> None:
    if value and not context.resilient_parsing:  # not while the shell completes a line
        from avc_tui.versions import version_lines

        typer.echo("\n".join(version_lines()))
        raise typer.Exit()


def root(context: typer.Context, version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print the versions of avc, PyTorch, the decoders and their FFmpeg libraries and "
             "CUDA, then exit.")] = False,
        verbose: Annotated[int, typer.Option(
            "--verbose", "-v", count=True,
            help="Log what the engine and the runner do to stderr, timestamped: -v info, -vv "
                 "debug (the processes started from here log so too).")] = 0,
        log_level: Annotated[Optional[str], typer.Option(
            help="Log from this level: debug, info, warning or error (overrides -v; "
                 "$AVC_LOG_LEVEL too).")] = None) -> None:
    """Attention-based video classification: reproduce ABDN and friends, run and compare them.

    Without a command: the terminal UI in a terminal, this help otherwise.
    """
    try:
        level = level_name(verbose, log_level)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--log-level") from None
    if level is not None or os.environ.get(LOG_ENV):
        configure(level)
    if context.invoked_subcommand is not None:
        return
    if sys.stdin.isatty() and sys.stdout.isatty():
        tui()
        raise typer.Exit()
    typer.echo(context.get_help())
    raise typer.Exit()


COMMANDS: dict[str, Callable[..., Any]] = {
    "models": catalog.models, "extract": data.extract, "run": launch.run, "grid": launch.grid,
    "predict": predict.predict, "attention": predict.attention, "demo": demo.demo, "tui": tui,
    "ls": browse.list_experiments, "show": browse.show, "compare": browse.compare,
    "cancel": lifecycle.cancel, "resume": lifecycle.resume, "rm": lifecycle.rm,
    "export": browse.export,
}
DATA_COMMANDS: dict[str, Callable[..., Any]] = {
    "synth": data.synth, "synth-yt8m": data.synth_yt8m, "info": data.info,
    "yt8m-records": data.yt8m_records,
}


def build_app() -> typer.Typer:
    """The Typer app with every command of :data:`COMMANDS` (and ``avc data ...``)."""
    app = typer.Typer(name="avc", help=HELP, invoke_without_command=True, add_completion=True,
                      pretty_exceptions_enable=False, cls=Group)
    app.callback()(root)
    for name, command in COMMANDS.items():
        app.command(name, cls=Command)(handles_errors(command))
    data_app = typer.Typer(help="Datasets: write the bundled synthetic one, inspect a layout.",
                           no_args_is_help=True, cls=Group)
    for name, command in DATA_COMMANDS.items():
        data_app.command(name, cls=Command)(handles_errors(command))
    app.add_typer(data_app, name="data")
    return app


app = build_app()


def main() -> None:
    """Console-script entry point."""
    app()
