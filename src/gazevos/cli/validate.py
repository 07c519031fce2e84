"""``gazevos validate``: agreement of an annotate run with a manual coding."""

from __future__ import annotations

from pathlib import Path

import click

from gazevos.cli.options import force_option


@click.command(short_help="Agreement with a manual coding: kappa, alpha, confusion, bias.")
@click.argument("results", type=click.Path(file_okay=False))
@click.option("--manual", "manual", required=True, type=click.Path(dir_okay=False),
              help="Manual coding CSV: start,end,object (seconds from the recording start) "
                   "or fixation_id,object.")
@click.option("--name-map", default=None, metavar="MANUAL=GAZEVOS,...",
              help="Rename the coding's objects to gazevos' names, e.g. 'Cup=mug'.")
@click.option("--unit", type=click.Choice(["samples", "fixations"]), default="samples",
              show_default=True, help="Compare per gaze sample or per fixation.")
@click.option("--mode", type=click.Choice(["tolerant", "strict"]), default="tolerant",
              show_default=True,
              help="gazevos' object: inside or near a mask (tolerant), or inside only.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for the tables (default: RESULTS-validation-UNIT beside RESULTS).")
@force_option
def validate(results: str, manual: str, name_map: str | None, unit: str, mode: str,
             out_dir: str | None, force: bool) -> None:
    """How well do gazevos' objects in RESULTS (an annotate output folder) agree with a manual
    coding?  Prints Cohen's kappa, Krippendorff's alpha, the confusion matrix, per-object
    precision and recall and the bias of dwell time and visit counts; writes them as tables.

    Example: gazevos validate results/ --manual coding.csv --name-map Cup=mug --unit fixations
    """
    from gazevos.gaze.validation import parse_name_map, validate_results, write_agreement
    from gazevos.io.rundir import fingerprint, run_folder

    res = Path(results)
    # beside RESULTS, not in it: a finished annotate folder is never changed afterwards
    out = Path(out_dir) if out_dir else res.parent / f"{res.name}-validation-{unit}"
    result = validate_results(results, manual, unit=unit, mode=mode,
                              name_map=parse_name_map(name_map))
    key = {"results": fingerprint(res), "manual": fingerprint(manual), "unit": unit,
           "mode": mode, "name_map": name_map}
    with run_folder(out, "validate", key, force=force, resumable=False) as run:
        write_agreement(result, run.stage)
    s = result.summary.set_index("metric")["value"]
    click.echo(f"{int(s['n_items'])} {unit} compared ({int(s['n_left_out'])} left out); "
               f"agreement {s['accuracy']:.3f}, Cohen's kappa {s['cohen_kappa']:.3f}, "
               f"Krippendorff's alpha {s['krippendorff_alpha']:.3f}")
    table = result.confusion.pivot(index="manual", columns="gazevos", values="count")
    click.echo("confusion (rows manual, columns gazevos):")
    click.echo(table.to_string())
    per = result.per_object[["object", "precision", "recall", "dwell_bias", "visits_bias"]]
    click.echo(per.round(3).to_string(index=False))
    click.echo(f"tables: {out}")
