"""What a plan report says, gathered from the store for one plan-reporting case: the plan's official
title, the executor, the period, the measures reported with status and note (the latest submission),
for МП's consolidated half-year report the executors whose quarterly reports are missing, and the
period's case statistics per region (the compliance report's own queries, one region at a time).

The measures' texts are the decree's (the catalogue holds them in Russian only); statuses, headings,
names of bodies and regions are in the document's language."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime, timedelta

from sqlalchemy import Connection

from notifications.phrases import period_title
from states.access import Principal, check_case
from states.calendar import KZ_TZ
from states.compliance import case_versions, compliance_report, late_reports, region_totals
from states.errors import RuleViolation
from states.periods import period_bounds
from states.queries import history, load_case_row
from states.reporting import missing_reports, plan_for
from states.unit_of_work import CaseRecord

from .words import APPROVED_748, DECREE_748, LANGUAGES, PLAN_748, status_word, word

ALGORITHM = "plan-reporting"
SUBMITTED = "report_submitted"


@dataclass(frozen=True)
class MeasureLine:
    number: str
    title: str
    form: str
    deadline: str
    status: str
    note: str


@dataclass(frozen=True)
class MissingLine:
    executor: str
    quarter: str
    state: str


@dataclass(frozen=True)
class RegionLine:
    region: str
    cases: int
    tasks: int
    on_time: int
    late: int
    overdue: int
    reports: int
    reported_late: int

    @property
    def share(self) -> float | None:
        """Done on time among the tasks whose outcome is known (done, or past due and open)."""
        judged = self.on_time + self.late + self.overdue
        return round(100 * self.on_time / judged, 1) if judged else None

    @property
    def share_text(self) -> str:
        return "—" if self.share is None else f"{self.share:.1f}"


@dataclass(frozen=True)
class PlanReport:
    """One report document's content, in one language."""
    lang: str
    ref: str
    consolidated: bool
    title: str
    plan_title: str
    plan_approved: str
    executor: str
    recipient: str
    period: str
    period_code: str
    state: str
    submitted: str
    generated: str
    measures: list[MeasureLine] = field(default_factory=list)
    missing: list[MissingLine] = field(default_factory=list)
    regions: list[RegionLine] = field(default_factory=list)

    @property
    def total(self) -> RegionLine:
        """Every region's statistics together."""
        sums = [sum(getattr(r, f) for r in self.regions)
                for f in ("cases", "tasks", "on_time", "late", "overdue", "reports", "reported_late")]
        return RegionLine(word("total", self.lang), *sums)


def check_lang(lang: str) -> None:
    """`invalid_data` naming `lang` unless it is ru or kk."""
    if lang not in LANGUAGES:
        raise RuleViolation("invalid_data", f"field 'lang': {lang!r} is not one of {', '.join(LANGUAGES)}",
                            field="lang")


def plan_report(engine, principal: Principal, ref: str, lang: str, now: datetime) -> PlanReport:
    """The content of the report of plan-reporting case `ref` in `lang`, figures as of `now`.
    `unknown_case`, `forbidden` (out of the caller's scope), `invalid_data` naming `lang`, or naming
    the case when it is not a plan-reporting case."""
    check_lang(lang)
    directory = engine.svc.directory
    with engine.reader() as conn:
        row = load_case_row(conn, ref)
        check_case(principal, directory, row.ref, row.region, row.bindings)
        if row.algorithm != ALGORITHM:
            raise RuleViolation("invalid_data", f"field 'ref': case {row.ref} is a {row.algorithm} case, not a "
                                                f"plan report ({ALGORITHM})", field="case")
        case = CaseRecord.from_row(row)
        period = str(case.data.get("period", ""))
        consolidated = "-H" in period
        definition = engine.registry.get(row.algorithm, row.algorithm_version)
        submission = _latest_submission(conn, row.ref)
        missing = missing_reports(conn, case, engine.svc.catalogue, directory) if consolidated else []
        regions = _regions(conn, directory, period, now)
    plan = plan_for(period, engine.svc.catalogue) or engine.svc.catalogue
    state_titles = {name: _pick(s.title, lang) for name, s in definition.spec.states.items()}
    return PlanReport(
        lang=lang, ref=row.ref, consolidated=consolidated,
        title=word("title.half_year" if consolidated else "title.quarterly", lang),
        plan_title=_plan_title(plan, lang), plan_approved=_plan_approved(plan, lang),
        executor=_body_name(directory, row.bindings.get("executor"), lang),
        recipient=_body_name(directory, row.bindings.get("recipient"), lang),
        period=period_title(period)[lang], period_code=period, state=state_titles.get(row.state, row.state),
        submitted=_day(submission["at"]) if submission else word("not_submitted", lang),
        generated=_day(now),
        measures=_measures(plan, (submission or {}).get("data", {}).get("items", []), lang),
        missing=[MissingLine(_body_name(directory, m["executor"], lang), period_title(m["period"])[lang],
                             state_titles.get(m["state"]) or word("not_launched", lang)) for m in missing],
        regions=[RegionLine(_region_name(directory, code, lang), *figures) for code, figures in regions])


def _latest_submission(conn: Connection, ref: str) -> dict | None:
    events = [e for e in history(conn, ref)["events"] if e["trigger"] == SUBMITTED]
    return events[-1] if events else None


def _measures(plan, items: list[dict], lang: str) -> list[MeasureLine]:
    lines = []
    for item in items:
        measure = plan.get(str(item.get("item", "")))
        lines.append(MeasureLine(
            number=measure.number if measure else str(item.get("item", "")),
            title=measure.title if measure else "", form=measure.form if measure else "",
            deadline=measure.deadline if measure else "",
            status=status_word(str(item.get("status", "")), lang), note=str(item.get("note") or "")))
    return lines


def _regions(conn: Connection, directory, period: str, now: datetime) -> list[tuple[str, tuple[int, ...]]]:
    """Per region of the directory: cases with a task opened in the period, those tasks (on time, late,
    overdue now), and violence reports launched in it with how many were reported late."""
    first, last = period_bounds(period)
    start = datetime.combine(first, dtime(0), KZ_TZ)
    end = datetime.combine(last + timedelta(days=1), dtime(0), KZ_TZ)
    late = {r.region: r for r in region_totals(late_reports(conn, directory, region=None, start=start, end=end,
                                                            now=now))}
    out = []
    for code in directory.regions:  # the task figures hold no region: one report per region
        window = dict(region=code, start=start, end=end, now=now)
        rows = compliance_report(conn, directory, **window)
        reports = late.get(code)
        out.append((code, (sum(v.cases for v in case_versions(conn, **window)), sum(r.opened for r in rows),
                           sum(r.done_on_time for r in rows), sum(r.done_late for r in rows),
                           sum(r.still_overdue for r in rows), reports.launched if reports else 0,
                           reports.reported_late if reports else 0)))
    return out


def _plan_title(plan, lang: str) -> str:
    """A later plan's catalogue names itself (`source.title_ru`, `title_kk`); the shipped one is No. 748's."""
    return plan.source.get(f"title_{lang}") or (PLAN_748[lang] if plan.source.get("decree", DECREE_748) == DECREE_748
                                                 else plan.source.get("decree", ""))


def _plan_approved(plan, lang: str) -> str:
    return plan.source.get(f"approved_{lang}") or (APPROVED_748[lang]
                                                   if plan.source.get("decree", DECREE_748) == DECREE_748 else "")


def _body_name(directory, body_id: str | None, lang: str) -> str:
    body = directory.find(body_id) if body_id else None
    return body.name_in(lang) if body is not None else (body_id or "")


def _region_name(directory, code: str, lang: str) -> str:
    region = directory.regions.get(code)
    return (region.name.get(lang) or region.name.get("ru") or code) if region is not None else code


def _pick(titles, lang: str) -> str:
    raw = titles.model_dump() if hasattr(titles, "model_dump") else dict(titles)
    return raw.get(lang) or raw.get("ru") or ""


def _day(moment: datetime | date) -> str:
    if isinstance(moment, datetime):
        moment = moment.astimezone(KZ_TZ).date()
    return moment.strftime("%d.%m.%Y")
