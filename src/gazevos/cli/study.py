"""``gazevos study``: annotate every recording of a study on Dask, then group tables and report."""

from __future__ import annotations

import click

from gazevos.cli.options import force_option
from gazevos.errors import GazevosError


@click.command(short_help="Annotate a study's recordings on Dask; group tables and report.")
@click.argument("study_file", metavar="STUDY.yaml", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder (default: the study file's 'out', else STUDY-results/ "
                   "beside it).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run on an existing Dask cluster (default: a local cluster).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes of the local cluster (default: one per core).")
@click.option("--serial", is_flag=True,
              help="Run the recordings one after the other in this process (no Dask).")
@force_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def study(study_file: str, out_dir: str | None, scheduler: str | None, workers: int | None,
          serial: bool, force: bool, quiet: bool) -> None:
    """Annotate every recording listed in STUDY.yaml (one Dask task per recording), compute
    the AOI tables of each, then the group tables (per object x condition: n, mean, sd,
    median, reach) and a study report.  Recordings whose outputs are complete and whose inputs
    and settings are unchanged are skipped; --force redoes them all.

    Example: gazevos study study.yaml --out results/ --workers 2
    """
    from gazevos.study.runner import run_study

    result = run_study(study_file, out_dir=out_dir, scheduler=scheduler, workers=workers,
                       serial=serial, force=force, progress=not quiet, echo=click.echo)
    click.echo(f"{result.n_done} recordings annotated, {result.n_skipped} skipped (unchanged), "
               f"{len(result.errors)} failed; {result.seconds:.1f} s")
    for rid, msg in result.errors.items():
        click.echo(f"failed: {rid}: {msg}", err=True)
    click.echo(f"report: {result.report}")
    if result.errors:
        raise GazevosError(f"{len(result.errors)} of {len(result.status)} recordings failed "
                           "(listed above and in tables/recordings.csv)", study_file)
