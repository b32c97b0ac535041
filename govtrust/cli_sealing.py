"""`govtrust seal add` (co-seal a licence) and `govtrust seal batch` (issue many)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seal_service.levels import PadesLevel
from verifier.errors import InputError

LevelOption = Annotated[
    PadesLevel | None,
    typer.Option(help="PAdES level (default: the licence type's own)", case_sensitive=False),
]


def register(seal_app: typer.Typer) -> None:
    seal_app.command("add")(add)
    seal_app.command("batch")(batch)


def add(
    pdf: Annotated[Path, typer.Argument(metavar="FILE.pdf", help="a sealed licence")],
    region: Annotated[str, typer.Option(help="the co-sealing department's region")],
    department: Annotated[str, typer.Option(help="the co-sealing department")],
    out: Annotated[Path, typer.Option(help="where to write the co-sealed PDF")],
    level: LevelOption = None,
) -> None:
    """Co-seal a sealed licence with another department's seal (joint approval). The
    licence must verify as valid first; its earlier seals stay valid."""
    from govtrust.issuance import SealingService
    from govtrust.runtime import Runtime
    from govtrust.settings import Settings
    from verifier.cli import read_input_file
    from verifier.pdf import MAX_PDF_BYTES

    check_out(out)
    document = read_input_file(pdf, "PDF", MAX_PDF_BYTES)
    runtime = Runtime(Settings())
    with runtime.database.transaction() as session:
        sealed = SealingService.for_pdf(runtime, level).co_seal(
            session, document, region, department
        )
    write_atomically(out, sealed)
    typer.echo(f"co-sealed by {region}/{department}: {out}")


def batch(
    input_file: Annotated[
        Path, typer.Option("--input", help="rows to issue: FILE.csv or FILE.jsonl")
    ],
    out: Annotated[Path, typer.Option(help="folder for the sealed PDFs (KEY.pdf)")],
    workers: Annotated[
        int | None, typer.Option(min=1, max=64, help="processes (default: every core)")
    ] = None,
    level: LevelOption = None,
) -> None:
    """Issue and seal many licences, resumably: a rerun skips the rows already done.

    Columns: key (yours, unique), region, department, type, holder_name, holder_id and
    optionally holder_id_type. Refused rows go to OUT/refused.jsonl.
    """
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from govtrust.batch import read_batch, run_batch
    from govtrust.settings import Settings

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    rows = read_batch(input_file)
    columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task("sealing", total=len(rows))
        result = run_batch(
            Settings(),
            rows,
            out,
            workers=workers,
            level=level,
            progress=lambda n: bar.advance(task, n),
        )
    typer.echo(
        f"{result.issued} issued, {result.already_done} already done, "
        f"{result.files_restored} file(s) restored, {len(result.failed)} refused, "
        f"of {len(rows)} rows"
    )
    if result.failed:
        refused = out / "refused.jsonl"
        refused.write_text(
            "".join(
                json.dumps({"line": row.line, "key": row.key, "error": error}, ensure_ascii=False)
                + "\n"
                for row, error in result.failed
            ),
            encoding="utf-8",
        )
        raise InputError(f"{len(result.failed)} row(s) refused: see {refused}")


def check_out(out: Path) -> None:
    if out.exists() and out.is_dir():
        raise InputError(f"--out {out} is a directory")
    if not out.parent.exists():
        raise InputError(f"--out: folder {out.parent} does not exist")


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
