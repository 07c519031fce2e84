"""The ``gazevos`` command line.

Each sub-command lives in its own module of this package and is registered on the root
group here.  Errors from the library (:class:`~gazevos.errors.GazevosError`) become one
line on stderr and exit code 2; no traceback is shown unless ``GAZEVOS_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

import click

from gazevos import __version__
from gazevos.errors import GazevosError
from gazevos.runtime import keep_freed_memory


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="gazevos")
def cli() -> None:
    """gazevos: which object did the wearer look at, in every frame and fixation."""


def _register() -> None:
    from gazevos.cli import davis, track

    cli.add_command(track.propagate)
    cli.add_command(davis.davis)
    from gazevos.cli import gaze_import; cli.add_command(gaze_import.gaze_import)  # noqa: E702, I001
    from gazevos.cli import train; cli.add_command(train.train)  # noqa: E702, I001
    from gazevos.cli import annotate as a; cli.add_command(a.annotate); cli.add_command(a.demo)  # noqa: E501, E702, I001
    from gazevos.cli import adapt as ad, segment as sg; cli.add_command(ad.adapt); cli.add_command(sg.segment); train.train.add_command(ad.train_semseg)  # noqa: E501, E702, I001
    from gazevos.cli import study as st, validate as va; cli.add_command(st.study); cli.add_command(va.validate)  # noqa: E501, E702, I001
    from gazevos.cli import studio as so; cli.add_command(so.studio)  # noqa: E702, I001


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning errors into one line and an exit code."""
    debug = os.environ.get("GAZEVOS_DEBUG") == "1"
    keep_freed_memory()
    try:
        cli.main(args=argv, prog_name="gazevos", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("gazevos: aborted", err=True)
        return 130
    except GazevosError as exc:
        if debug:
            raise
        click.echo(f"gazevos: error: {exc}", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("gazevos: interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: never a traceback
        if debug:
            raise
        msg = " ".join(str(exc).split())
        click.echo(f"gazevos: error: internal error: {exc.__class__.__name__}: {msg} "
                   "(set GAZEVOS_DEBUG=1 for a traceback)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
