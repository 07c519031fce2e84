"""``gazevos studio``: the local web app to mark, check and correct tracked objects."""

from __future__ import annotations

from pathlib import Path

import click

from gazevos.errors import GazevosError


def default_project(recording: str) -> Path:
    """``RECORDING/../NAME.studio``: the project folder beside the recording."""
    rec = Path(recording).resolve()
    return rec.parent / f"{rec.name}.studio"


@click.command(short_help="Mark, check and correct tracked objects in the browser.")
@click.argument("recording", type=click.Path())
@click.option("--project", "project_dir", type=click.Path(file_okay=False), default=None,
              help="Project folder (default: RECORDING.studio beside the recording); "
                   "created when new, reopened otherwise.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; only print the URL.")
@click.option("--tracker", default=None,
              help="Tracker for this project from now on [default: the project's, else "
                   "classic].")
@click.option("--format", "recording_format", default=None,
              help="Recording format (default: detected).")
def studio(recording: str, project_dir: str | None, port: int, no_browser: bool,
           tracker: str | None, recording_format: str | None) -> None:
    """Open RECORDING in the studio, a web app on this machine: add objects by clicking,
    dragging a box or brushing, track them, correct them at any frame (the stretch to the
    neighbouring corrections is tracked again), override fixations, and export the same
    folder as `gazevos annotate`. The URL carries a secret token; Ctrl-C stops the server.
    """
    import socket
    import webbrowser

    import uvicorn

    from gazevos.studio.app import create_app
    from gazevos.studio.security import allowed_hosts, new_token
    from gazevos.studio.service import open_studio

    project = Path(project_dir) if project_dir else default_project(recording)
    st = open_studio(recording, project, tracker=tracker, recording_format=recording_format)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise GazevosError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); "
                           "choose another --port") from exc
    port = sock.getsockname()[1]
    token = new_token()
    app = create_app(st, token, allowed_hosts(port))
    url = f"http://127.0.0.1:{port}/?token={token}"
    click.echo(f"gazevos studio: project {st.project.root}")
    click.echo(f"open {url}")
    click.echo("Ctrl-C stops the server.")
    if not no_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])  # uvicorn shuts down on Ctrl-C / SIGTERM, then re-raises
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        st.project.close()
    click.echo("gazevos studio: stopped")
