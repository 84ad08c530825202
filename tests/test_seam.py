"""The one typed seam (issue 15): every job result and every event goes to its JSON
form and back to the same dataclass, through the very line ``--json`` prints and the
app reads (``Summary.of`` ... ``Event.from_json`` ... ``Summary.result``)."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from therabak.events import (
    Damaged,
    DamagedPart,
    Error,
    Event,
    FileOutcome,
    Phase,
    Progress,
    Retry,
    Summary,
    Warning,
)
from therabak.jobs.backup import BackupResult
from therabak.jobs.backup_outcome import LeftOut
from therabak.jobs.diff import DiffResult
from therabak.jobs.folder import FolderBackupResult
from therabak.jobs.passwd import PasswdResult
from therabak.jobs.recovery import RecoveryResult
from therabak.jobs.restore import RestoreResult
from therabak.jobs.store_backup import StoreBackupResult
from therabak.jobs.verify import VerifyResult
from therabak.namemap import NameProblem, Renamed
from therabak.store.prune import REPORT_COUNTS, PruneReport

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1)
paths = st.builds(Path, names)
maybe_paths = st.none() | paths
counts = st.integers(min_value=0, max_value=2**53)
seconds = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
damage = st.lists(st.tuples(st.sampled_from(list(DamagedPart)) | names, text), max_size=4)
pairs = st.lists(st.tuples(names, text), max_size=4)
warnings = st.lists(st.builds(Warning, message=text, path=text, code=text), max_size=3)
renamed = st.lists(
    st.builds(
        Renamed,
        path=names,
        target=names,
        reasons=st.lists(st.sampled_from(list(NameProblem)), max_size=3).map(tuple),
    ),
    max_size=3,
)
outcomes = st.builds(
    FileOutcome,
    path=names,
    outcome=st.sampled_from(["recovered", "raw", "skipped", "failed"]),
    attempts=st.integers(1, 10),
    error=text,
)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=2)))).filter(lambda d: d.year > 1900)

RESULTS = {
    BackupResult: st.builds(
        BackupResult,
        archive=paths,
        files=counts,
        bytes_in=counts,
        bytes_stored=counts,
        duration_s=seconds,
        retried=st.lists(outcomes, max_size=3),
        skipped=pairs,
        verified=st.none() | st.booleans(),
        damaged=damage,
        volumes=st.lists(paths, max_size=3),
        volume_size=st.none() | counts,
        file_system=text,
        verify_cancelled=st.booleans(),
        recovery_code=st.booleans(),
        warnings=warnings,
        left_out=st.lists(st.builds(LeftOut, path=names, size=counts), max_size=3),
    ),
    StoreBackupResult: st.builds(
        StoreBackupResult,
        store=names | st.just("sftp://praxis@nas.example:2222/backups/TheraPsy-Backups"),
        snapshot=text,
        created_store=st.booleans(),
        files=counts,
        files_reused=counts,
        files_read=counts,
        bytes_total=counts,
        bytes_new=counts,
        bytes_stored=counts,
        duration_s=seconds,
        retried=st.lists(outcomes, max_size=3),
        skipped=pairs,
        verified=st.none() | st.booleans(),
        verify_cancelled=st.booleans(),
        damaged=damage,
        recovery_code=st.booleans(),
        warnings=warnings,
        left_out=st.lists(st.builds(LeftOut, path=names, size=counts), max_size=3),
    ),
    RestoreResult: st.builds(
        RestoreResult,
        point=paths,
        target=paths,
        before_restore=maybe_paths,
        before_restore_planned=maybe_paths,
        files_restored=counts,
        bytes_restored=counts,
        files_carried=counts,
        bytes_carried=counts,
        damaged=damage,
        warnings=warnings,
        new_account_key=maybe_paths,
        duration_s=seconds,
        renamed=renamed,
        renamed_list=maybe_paths,
        file_system=text,
    ),
    FolderBackupResult: st.builds(
        FolderBackupResult,
        folder=paths,
        files=counts,
        bytes=counts,
        duration_s=seconds,
        verified=st.none() | st.booleans(),
        recopied=st.lists(names, max_size=3),
        unstable=st.lists(names, max_size=3),
        skipped=pairs,
        damaged=damage,
        renamed=renamed,
        file_system=text,
        warnings=warnings,
    ),
    VerifyResult: st.builds(
        VerifyResult,
        files_ok=counts,
        bytes_checked=counts,
        damaged=damage,
        index_ok=st.booleans(),
        duration_s=seconds,
        archive=text,
    ),
}
OTHER_RESULTS = {
    DiffResult: st.builds(
        DiffResult,
        added=pairs,
        removed=pairs,
        changed=pairs,
        unreadable=pairs,
        same=counts,
    ),
    PasswdResult: st.builds(PasswdResult, archive=paths, slots=st.lists(text, max_size=3)),
    PruneReport: st.builds(
        PruneReport,
        store=names,
        forgotten=st.lists(text, max_size=3),
        dry_run=st.booleans(),
        counts=st.fixed_dictionaries({name: counts for name in REPORT_COUNTS}),
        duration_s=seconds,
    ),
    RecoveryResult: st.builds(
        RecoveryResult, archive=paths, slots=st.lists(text, max_size=3), replaced=st.booleans()
    ),
}
EVENTS = st.one_of(
    st.builds(Phase, name=text, detail=text),
    st.builds(
        Progress,
        phase=text,
        bytes_done=counts,
        bytes_total=counts,
        files_done=counts,
        files_total=counts,
        current=text,
        rate=seconds,
        eta_s=st.none() | seconds,
    ),
    st.builds(
        Retry,
        path=names,
        attempt=st.integers(1, 9),
        max=st.integers(1, 9),
        error=text,
        delay_s=seconds,
        code=text,
    ),
    outcomes,
    st.builds(Warning, message=text, path=text, code=text),
    st.builds(Damaged, path=names, reason=text),
    st.builds(Error, exit_code=st.integers(0, 255), message=text, hint=text, remedy=text),
)


def through_the_line(event: Event) -> Event:
    """What the app reads of an event: the line the CLI prints, parsed."""
    return Event.from_json(json.loads(event.to_line()))


def same_paths(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> bool:
    """Equal, and a damaged part stays a part (a file called "(index)" stays a file)."""
    return a == b and [type(p) for p, _r in a] == [type(p) for p, _r in b]


def check_result(result) -> None:
    back = type(result).from_json(json.loads(json.dumps(result.to_json())))
    assert back == result
    for f in fields(result):
        if f.name in ("damaged", "skipped"):
            assert same_paths(getattr(back, f.name), getattr(result, f.name))


@SETTINGS
@given(st.one_of(*RESULTS.values(), *OTHER_RESULTS.values()))
def test_every_job_result_goes_to_json_and_back(result) -> None:
    check_result(result)


@SETTINGS
@given(st.one_of(*RESULTS.values()))
def test_a_summary_carries_its_result_through_the_json_line(result) -> None:
    summary = Summary.of("job", result, "message")
    back = through_the_line(summary)
    assert isinstance(back, Summary)
    assert back.exit_code == result.exit_code and back.duration_s == result.duration_s
    again = back.result(type(result))
    assert again == result
    assert same_paths(again.damaged, result.damaged)


def test_a_prune_summary_carries_its_report_through_the_json_line() -> None:
    report = PruneReport(
        "/stick/TheraPsy-Backups-ab12",
        forgotten=["1f2e"],
        counts={name: i for i, name in enumerate(REPORT_COUNTS)},
        duration_s=1.5,
    )
    back = through_the_line(Summary.of("prune", report, report.store))
    assert isinstance(back, Summary)
    assert back.result(PruneReport) == report
    assert back.extra["bytes_freed"] == REPORT_COUNTS.index("bytes_freed")  # the CLI's key


@SETTINGS
@given(EVENTS)
def test_every_event_goes_to_json_and_back(event: Event) -> None:
    assert through_the_line(event) == event
    assert type(event).from_json(event.to_json()) == event


def test_a_file_called_like_a_damaged_part_stays_a_file() -> None:
    result = VerifyResult(damaged=[("(index)", "a file"), (DamagedPart.INDEX, "the index")])
    back = VerifyResult.from_json(json.loads(json.dumps(result.to_json())))
    assert [type(p) for p, _r in back.damaged] == [str, DamagedPart]


def test_a_summary_of_another_kind_is_no_result() -> None:
    summary = Summary.of("verify", VerifyResult(files_ok=1))
    try:
        summary.result(RestoreResult)
    except ValueError:
        pass
    else:
        raise AssertionError("a verify summary read as a restore result")
    try:
        Phase.from_json({"event": "warning", "message": "m", "path": "", "code": ""})
    except ValueError:
        pass
    else:
        raise AssertionError("a warning read as a phase")
