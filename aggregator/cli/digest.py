"""The `digest` command: build, write and mail the daily digest."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from aggregator.cli.options import parse_day, pass_ctx
from aggregator.cli.output import fmt_time, table
from aggregator.digest import archive
from aggregator.digest.archive import write_atomic
from aggregator.digest.render import render
from aggregator.services.context import Context
from aggregator.services.digest import prepare
from aggregator.store.digests import newest_digests

OUTPUTS = ("txt", "md", "html", "json", "atom")


@click.command()
@click.option("--date", "day", callback=parse_day, metavar="YYYY-MM-DD",
              help="Digest of this local date (default: the newest one that has closed).")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(OUTPUTS), default="txt", show_default=True,
              help="What to print (every format is written to the output directory anyway).")  # fmt: skip
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the chosen format here instead of printing it ('-' for standard output).")  # fmt: skip
@click.option("--send", is_flag=True, help="Mail the digest (once: a digest already mailed is not sent again).")
@click.option("--resend", is_flag=True, help="Mail it even if it was mailed before.")
@click.option("--rebuild", is_flag=True, help="Build the archived digest again for the same period.")
@click.option("--preview", is_flag=True, help="Show what the next digest holds so far; nothing is stored or sent.")
@click.option("--list", "listing", is_flag=True, help="List the archived digests (date, period, stories, mailed).")
@click.option("--all", "everything", is_flag=True,
              help="Every story of the period, including those that matched no topic; not stored or sent.")  # fmt: skip
@pass_ctx
def digest(
    obj: Context, day: date | None, fmt: str, out_path: Path | None, send: bool, resend: bool, rebuild: bool,
    preview: bool, listing: bool, everything: bool,
) -> None:  # fmt: skip
    """Build the digest of the stories first seen since the previous one, by topic; write it, print it, mail it.

    With --send (for cron), nothing is printed but what happened, unless --format or --out asks for the digest.
    """
    settings = obj.settings
    if listing:
        _list_archive(obj)
        return
    topics = obj.topics()
    now = datetime.now(UTC)
    db = obj.database()
    prepare(obj, db, now=now)
    title = settings.digest.title
    if preview or everything:
        if send or resend:
            raise click.UsageError("--send cannot be used with --preview or --all (they are not stored)")
        with db.session() as session:
            if preview:
                content = archive.preview(session, settings, topics, now=now, everything=everything)
            else:
                local_date = day or archive.newest_closed_date(session, settings, now)
                content = archive.everything_for(session, settings, topics, local_date, now=now)
        _emit(render(content, fmt if fmt != "atom" else "txt", title=title), out_path)
        db.close()
        return
    with db.session() as session:
        local_date = day or archive.newest_closed_date(session, settings, now)
        built = archive.build(session, settings, topics, local_date, now=now, rebuild=rebuild)
        content = built.digest.content
        written = archive.write_outputs(session, settings, content)
    counts = content["counts"]
    status = "built" if built.created else "from the archive"
    click.echo(
        f"digest {content['date']} ({status}): {counts['shown']} stories from {counts['new_items']} new items, "
        f"{counts['left_out_stories']} stories left out; written to {written['html'].parent}",
        err=True,
    )
    source = click.get_current_context().get_parameter_source("fmt")
    quiet = (send or resend) and out_path is None and source is not click.core.ParameterSource.COMMANDLINE
    if not quiet:  # mailed from cron, the mail is the digest: stdout would mail it a second time
        if fmt == "atom" and out_path is None:
            click.echo(f"feeds: {written['atom']} (all digests) and digests-<section>.atom beside it")
        elif fmt == "atom":
            _emit(written["atom"].read_text(encoding="utf-8"), out_path)
        elif fmt == "html" and out_path is None:
            click.echo(f"html: {written['html']}")
        else:
            _emit(render(content, fmt, title=title), out_path)
    if send or resend:
        with db.session() as session:
            row = archive.load(session, content["date"])
            if archive.send(session, settings, row, now=datetime.now(UTC), force=resend):
                click.echo(f"mailed to {row.sent_to}", err=True)
            else:
                when = fmt_time(row.sent_at, settings)
                click.echo(f"already mailed on {when} ({settings.timezone}); --resend to send again", err=True)
    db.close()


def _emit(text: str, out_path: Path | None) -> None:
    if out_path is None or str(out_path) == "-":
        sys.stdout.write(text)
        return

    write_atomic(out_path, text.encode("utf-8"))
    click.echo(f"wrote {out_path}", err=True)


def _list_archive(obj: Context) -> None:
    """Every archived digest, newest first, with its period and mailing in the reporter's zone."""
    settings = obj.settings
    db = obj.database()
    with db.session() as session:
        rows = [
            [
                d.local_date,
                f"{fmt_time(d.period_start, settings)} - {fmt_time(d.period_end, settings)}",
                str(d.story_count),
                str(d.item_count),
                fmt_time(d.sent_at, settings) if d.sent_at else "no",
            ]
            for d in newest_digests(session)
        ]
    db.close()
    if not rows:
        click.echo("no digest is archived yet (aggregator digest builds the newest closed one)")
        return
    click.echo(table(rows, ["date", f"period ({settings.timezone})", "stories", "items", "mailed"]))
