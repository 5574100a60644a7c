"""Generate `plan_catalogue.yaml` from the text of Government Decree No. 748 (31.08.2023).

The committed YAML is the source of truth; this script is how it was produced and how it is refreshed
when the decree text changes (e.g. a new amending decree inserts measures):

    python algorithms/data/make_plan_catalogue.py [DECREE_TXT] [-o algorithms/data/plan_catalogue.yaml]

The decree's plan is a table flattened into text: every table cell is preceded by a line holding a single
tab. A measure row is seven cells (number, title, form of completion, deadline, executors, amount,
source of financing); section and subsection headings are single cells between rows. Ambiguities that
cannot be settled from the text are written as YAML comments on the measure (see `NOTES`).
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

DECREE_NAME = "000_b8f31f13fc127bbd.txt"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path(__file__).resolve().parent / "plan_catalogue.yaml"
DEFAULT_DECREE_CANDIDATES = (
    REPO_ROOT / "docs" / "decree" / DECREE_NAME,
    REPO_ROOT.parent / "shared" / "decree" / DECREE_NAME,
)

ABBREVIATIONS_MARKER = "Примечание: расшифровка аббревиатур"
DASH = "-"

SECTION_RE = re.compile(r"^(\d+)\.\s+\S")
SUBSECTION_RE = re.compile(r"^\d+\.\d+\.\s+\S")
NUMBER_RE = re.compile(r"^(\d+(?:-\d+)?)\.?$")
FULL_DATE_RE = re.compile(r"^[А-Яа-яЁё]+ \d{4} года$")
ABBREVIATION_RE = re.compile(r"^(\S+)\s+–\s+(.+?)[;.]?$")

# Reading notes that the parser cannot derive by itself; they become YAML comments on the measure.
NOTES: dict[str, list[str]] = {
    "14": [
        "Two deadlines are given (январь 2025 года; сентябрь 2025 года) for the two amendments; the decree "
        "does not say which deadline belongs to which amendment (presumably in the order listed).",
    ],
    "15": [
        "Two deadlines are given (Май 2024 года; Декабрь 2024 года) without saying which part of the work "
        "each one covers.",
    ],
    "7": ["МКС (Ministry of Culture and Sport) is kept as written; other measures name МКИ and МТС instead."],
    "24": ["Amount \"4, 442 млн тенге\" is kept verbatim (decimal comma followed by a stray space)."],
    "32": ["Amount \"8, 885 млн тенге\" is kept verbatim (decimal comma followed by a stray space)."],
    "39": [
        "Amount \"44, 429 млн тенге\" is kept verbatim (decimal comma followed by a stray space).",
        "Source \"за счҰт\" is a mis-encoded \"за счёт\" in the decree text; kept verbatim.",
    ],
    "42": ["Amounts like \"22870, 23 млн тенге\" are kept verbatim (decimal comma followed by a stray space)."],
    "43": ["Amounts like \"48878, 783 млн тенге\" are kept verbatim (decimal comma followed by a stray space)."],
    "44": ["Amounts like \"81599, 203 млн тенге\" are kept verbatim (decimal comma followed by a stray space)."],
    "50": ["Source \"за счҰт\" is a mis-encoded \"за счёт\" in the decree text; kept verbatim."],
    "37-3": ["The title is broken into two paragraphs mid-sentence in the decree; joined with a space."],
}

# The subsection under section 2 that the decree numbers "1.1." (it should read "2.1.").
MISNUMBERED_SUBSECTION_NOTE = (
    "The decree heads the subsection of this and the following measures (to 29-3) \"1.1. Краткосрочные "
    "меры\" although it sits in section 2 (logically 2.1); kept as written."
)
MIOR_NOTE = "МИОР is the Ministry of Information and Social Development, a different code from МИО."

# The plan's span. The decree took effect on signing (its item 5), 31.08.2023, and the plan is "на 2023 – 2025
# годы": quarters 2023-Q3 … 2025-Q4 and half-years 2023-H2 … 2025-H2 have a day inside it.
SPAN = {"start": date(2023, 8, 31), "end": date(2025, 12, 31)}

# The reorganisation of the Government announced in the President's Address of 1 September 2023 and made by the
# decree in REORGANISATION_ACT, signed the same day (reported that day: the ministers of МИИР, МИОР and МКС
# relieved of their duties, kt.kz 01.09.2023; "five new ministries", mir24.tv 02.09.2023). The plan, signed the
# day before, still names the old ministries in several measures (others name the new ones as amended in 2025).
REORGANISED_ON = date(2023, 9, 1)
REORGANISATION_ACT = ("Указ Президента Республики Казахстан от 1 сентября 2023 года «О мерах по дальнейшему "
                      "совершенствованию системы государственного управления Республики Казахстан»")
SUCCESSORS: dict[str, list[str]] = {
    "МИОР": ["МКИ"],  # transformed into the Ministry of Culture and Information
    "МКС": ["МТС", "МКИ"],  # sport and tourism to МТС, culture to МКИ
    "МИИР": ["МПС", "МТ"],  # divided into the Ministries of Industry and Construction and of Transport
}


@dataclass
class Row:
    """One measure as read from the table, plus the notes gathered while reading it."""

    number: str
    section: str
    subsection: str
    title: str
    form: str
    deadline: str
    executors: list[str]
    executor_notes: dict[str, str]
    financing_amount: str
    financing_source: str
    notes: list[str] = field(default_factory=list)

    @property
    def financing(self) -> str:
        """Amount and source as one readable text; a bare '-' column is left out."""
        amount = "" if self.financing_amount == DASH else self.financing_amount
        source = "" if self.financing_source == DASH else self.financing_source
        if amount and source:
            return f"{source}: {amount}"
        return amount or source or DASH


def normalise(text: str) -> str:
    """Collapse every run of whitespace (including no-break spaces) into one space."""
    return " ".join(text.replace("\xa0", " ").split())


def paragraphs(cell: str) -> list[str]:
    """Non-empty, whitespace-normalised lines of a cell."""
    return [p for p in (normalise(line) for line in cell.split("\n")) if p]


def join_text(cell: str) -> str:
    """A cell's paragraphs joined with spaces."""
    return " ".join(paragraphs(cell))


def join_deadline(cell: str) -> str:
    """Deadline paragraphs; two complete dates in a row are separate deadlines, so join them with '; '."""
    parts = paragraphs(cell)
    out = parts[:1]
    for part in parts[1:]:
        sep = "; " if FULL_DATE_RE.match(out[-1].split("; ")[-1]) and FULL_DATE_RE.match(part) else " "
        out[-1] = out[-1] + sep + part
    return out[0] if out else ""


def parse_abbreviations(text: str) -> dict[str, str]:
    """The decree's closing abbreviation list, in its order."""
    _, _, tail = text.partition(ABBREVIATIONS_MARKER)
    result: dict[str, str] = {}
    for line in paragraphs(tail):
        match = ABBREVIATION_RE.match(line)
        if match:
            result[match.group(1)] = match.group(2)
    if not result:
        raise ValueError("abbreviation list not found in the decree text")
    return result


def parse_executors(cell: str, codes: set[str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Executors of one measure: codes in order, parenthetical notes per code, and reading notes.

    Chunks are comma-separated. A chunk made only of known codes may hold several of them when the
    decree omits a comma; any other chunk is an executor named in full (e.g. "акимат города Астаны").
    """
    executors: list[str] = []
    notes: dict[str, str] = {}
    reading: list[str] = []
    for chunk in join_text(cell).split(","):
        tokens = re.findall(r"\(([^)]*)\)|([^\s()]+)", chunk)
        words = [word for _, word in tokens if word]
        if not words:
            continue
        if all(word in codes for word in words):
            current: str | None = None
            for note, word in tokens:
                if word:
                    current = word
                    executors.append(word)
                elif current is not None:
                    notes[current] = normalise(note)
            if len(words) > 1:
                reading.append(
                    f"No comma between {' and '.join(words)} in the executors column; "
                    "read as separate executors."
                )
        else:
            name = " ".join(words)
            executors.append(name)
            for note, _ in tokens:
                if note:
                    notes[name] = normalise(note)
            reading.append(f"\"{name}\" is not an abbreviation of the decree; kept as a named executor.")
    return executors, notes, reading


def parse_plan(text: str, codes: set[str]) -> list[Row]:
    """All measures of the plan table, in the decree's order."""
    table, _, _ = text.partition(ABBREVIATIONS_MARKER)
    cells = re.split(r"\n\t\n", table)
    start = next(i for i, c in enumerate(cells) if SECTION_RE.match(c.strip()) and not NUMBER_RE.match(c.strip()))
    rows: list[Row] = []
    section = subsection = ""
    i = start
    while i < len(cells):
        head = join_text(cells[i])
        if SUBSECTION_RE.match(head):
            subsection = head
            i += 1
        elif (number := NUMBER_RE.match(head)) is not None:
            title, form, deadline, executors_cell, amount, source = cells[i + 1 : i + 7]
            executors, executor_notes, reading = parse_executors(executors_cell, codes)
            row = Row(
                number=number.group(1),
                section=section,
                subsection=subsection,
                title=join_text(title),
                form=join_text(form),
                deadline=join_deadline(deadline),
                executors=executors,
                executor_notes=executor_notes,
                financing_amount=join_text(amount),
                financing_source=join_text(source),
                notes=reading,
            )
            rows.append(row)
            i += 7
        elif SECTION_RE.match(head):
            section, subsection = head, ""
            i += 1
        elif not head:
            i += 1
        else:
            raise ValueError(f"unexpected cell in the plan table: {head[:80]!r}")
    return rows


def annotate(rows: list[Row]) -> None:
    """Attach the reading notes that need context beyond one cell."""
    previous: Row | None = None
    for row in rows:
        misnumbered = row.section.startswith("2.") and row.subsection.startswith("1.1.")
        if misnumbered and (previous is None or previous.subsection != row.subsection or previous.section != row.section):
            row.notes.append(MISNUMBERED_SUBSECTION_NOTE)
        previous = row
        if "МИОР" in row.executors:
            row.notes.append(MIOR_NOTE)
        row.notes.extend(NOTES.get(row.number, []))


class _NoAliases(yaml.SafeDumper):
    """Writes a value shared by several records (the reorganisation date) in full each time, not as &id/*id."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_block(data: object, indent: int, flow_leaves: bool = True) -> str:
    """YAML for one block, one field per line (no wrapping), indented by `indent` spaces.

    With `flow_leaves`, lists and mappings of scalars are written inline (`[МП, МЗ]`).
    """
    style = None if flow_leaves else False
    text = yaml.dump(data, Dumper=_NoAliases, allow_unicode=True, sort_keys=False, width=100_000,
                     default_flow_style=style)
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def render(rows: list[Row], abbreviations: dict[str, str], named: dict[str, str], decree: Path, digest: str) -> str:
    """The whole YAML document, with a header and per-measure comments."""
    out = [
        "# Plan catalogue: the measures of the Comprehensive plan to protect children from violence, prevent\n",
        "# suicide and ensure their rights and well-being for 2023-2025 (Government Decree No. 748 of\n",
        "# 31.08.2023, as amended by Decree No. 392 of 30.05.2025, which inserted 23-1, 29-1..29-3,\n",
        "# 37-1..37-4 and 47-1..47-3).\n",
        "#\n",
        "# Generated by algorithms/data/make_plan_catalogue.py from the decree text, then committed: this file\n",
        "# is the source of truth. tests/test_plan_catalogue.py checks it against the decree independently.\n",
        "# Texts are as the decree writes them, whitespace normalised; numbers lose their trailing dot.\n",
        "# `executors` are codes of `abbreviations`, or executors the decree names in full (`named_executors`).\n",
        "# `executor_notes` keeps parenthetical notes such as \"по согласованию\" (by agreement).\n",
        "# `financing` = \"<source>: <amount>\"; the raw columns are `financing_amount` / `financing_source`.\n",
        "# МБ (local budget) and РБ (republic budget) are in the abbreviation list but are sources, not executors.\n",
        "\n",
    ]
    out.append(dump_block({"source": {
        "decree": "Постановление Правительства Республики Казахстан от 31 августа 2023 года № 748",
        "amended_by": "Постановление Правительства Республики Казахстан от 30.05.2025 № 392",
        "file": decree.name,
        "sha256": digest,
    }}, 0, flow_leaves=False))
    out.append(
        "\n# The days the plan is in force: from 31.08.2023 (the decree took effect on signing, its item 5) to the\n"
        "# end of 2025 (\"на 2023 – 2025 годы\"). A reporting period belongs to the plan when one of its days does:\n"
        "# quarters 2023-Q3 … 2025-Q4, half-years 2023-H2 … 2025-H2. A later plan is another catalogue with its own\n"
        "# span (see algorithms/catalogue.py).\n"
    )
    out.append(dump_block({"span": SPAN}, 0, flow_leaves=False))
    out.append("\n# Abbreviation list at the end of the decree, in its order.\n")
    out.append(dump_block({"abbreviations": abbreviations}, 0, flow_leaves=False))
    out.append("\n# Executors the plan names in full instead of by an abbreviation.\n")
    out.append(dump_block({"named_executors": named}, 0, flow_leaves=False))
    out.append(
        "\n# Executors the decree names that the reorganisation of the Government of 1 September 2023 abolished:\n"
        "# a period that starts on or after `since` is reported by the `successors`, who also report on the\n"
        "# measures of the code they succeed.\n"
    )
    reorganisations = [{"code": code, "successors": successors, "since": REORGANISED_ON, "act": REORGANISATION_ACT}
                       for code, successors in SUCCESSORS.items()]
    out.append(dump_block({"reorganisations": reorganisations}, 0))
    out.append("\nmeasures:\n")
    for row in rows:
        for note in row.notes:
            out.append(f"  # {note}\n")
        record = {
            "number": row.number,
            "section": row.section,
            "subsection": row.subsection,
            "title": row.title,
            "form": row.form,
            "deadline": row.deadline,
            "executors": row.executors,
        }
        if row.executor_notes:
            record["executor_notes"] = row.executor_notes
        record.update(
            financing=row.financing,
            financing_amount=row.financing_amount,
            financing_source=row.financing_source,
        )
        block = dump_block([record], 2)
        out.append(block)
    return "".join(out)


def find_decree() -> Path:
    """The first default location of the decree text that exists."""
    for candidate in DEFAULT_DECREE_CANDIDATES:
        if candidate.exists():
            return candidate
    raise SystemExit(f"decree text not found; pass its path (looked in {DEFAULT_DECREE_CANDIDATES})")


def main(argv: list[str] | None = None) -> int:
    """Parse the decree and write the catalogue YAML."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decree", nargs="?", type=Path, help="path to the decree text")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    decree: Path = args.decree or find_decree()
    raw = decree.read_bytes()
    text = raw.decode("utf-8").replace("\r\n", "\n")
    abbreviations = parse_abbreviations(text)
    rows = parse_plan(text, set(abbreviations))
    annotate(rows)
    named = {
        executor: executor
        for row in rows
        for executor in row.executors
        if executor not in abbreviations
    }
    args.out.write_text(render(rows, abbreviations, named, decree, hashlib.sha256(raw).hexdigest()), encoding="utf-8")
    print(f"{len(rows)} measures, {len(abbreviations)} abbreviations -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
