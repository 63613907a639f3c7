"""Statistical disclosure control of the national cells (issue 18), tested as the attack.

The issue's attack: the analyst of 110000 read the national total of a product two provinces make and
subtracted its own output; what remained was 320000's. On a scratch database provisioned as a warehouse
(``ibdc_test_disclosure``), with two data sets loaded and mart_industrial_output_monthly built:

- constructed cells of 2023-06, one per case of the rule (2 contributors, 3 equal, 3 with one dominant,
  4, 3 with one at exactly 0.75, 3 of which one reports 0);
- the demo's data: the simulator's industrial output of every province for two months, extracted to the
  test bucket and loaded as the pipeline does;

every provincial analyst reads what it can (its rows of the mart's columns granted to it and of
mart_industrial_output_monthly_disclosed) and tries to compute another province's output from it:
the total minus its own (subtraction), its own over its share (the total back, then the subtraction),
and the bounds its rank puts on the others. None succeeds; the same attack as the national analyst,
on the mart unsuppressed, does (the control: the attack code works). Then the grants behind it
(provincial analysts, national analyst, steward, exchange partner) and the dbt test that fails a
mart whose aggregate declares no disclosure.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from ibdc import pipeline
from ibdc.parsing.base import PageRows
from ibdc.reference import provinces
from ibdc.transform.dbt import DBT_PROJECT_DIR, run_dbt
from tests.partitions import ANY
from tests.scratch_warehouse import (
    load_page,
    output_page,
    pointed_at,
    query_as,
    refused,
    scratch_warehouse,
    throwaway_roles,
)

DATASET = "industrial_output"
DEMO_PERIODS = ["2021-08", "2021-09"]  # no other module writes industrial output of 2021
pytestmark = [
    pytest.mark.integration,
    pytest.mark.partitions(dataset=DATASET, provinces=ANY, periods=DEMO_PERIODS),
]

SCRATCH = "ibdc_test_disclosure"
MART = "marts.mart_industrial_output_monthly"
DISCLOSED = "marts.mart_industrial_output_monthly_disclosed"
CELLS = "marts.mart_industrial_output_monthly__national_cells"
NATIONAL, STEWARD, PARTNER = "ibdc_analyst_national", "ibdc_steward", "ibdc_exchange_partner"
PROVINCES = sorted(provinces())
ANALYSTS = {code: f"ibdc_analyst_{code}" for code in PROVINCES}
AGGREGATES = ("national_output_value", "national_share", "province_rank")
MIN_CONTRIBUTORS, DOMINANCE = 3, Decimal("0.75")
SHARE_HALF_UNIT = Decimal("0.0000005")  # national_share is rounded to 6 places

# The constructed month: product -> {province: output in the month}, and the flag the rule gives.
MONTH = "2023-06"
CASES: dict[str, tuple[dict[str, str], str | None]] = {
    "crude_steel": ({"110000": "100", "320000": "40"}, "frequency"),  # the attack
    "steel_products": ({"110000": "50", "320000": "50", "440000": "50"}, None),
    "pig_iron": ({"130000": "900", "110000": "50", "320000": "50"}, "dominance"),
    "cement": ({"110000": "40", "320000": "30", "440000": "20", "330000": "10"}, None),
    "flat_glass": ({"110000": "75", "320000": "15", "440000": "10"}, None),  # 0.75 is not over 0.75
    "ethylene": ({"110000": "0", "320000": "60", "440000": "40"}, "frequency"),  # 2 positive only
}


def _first(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def _constructed_page(province: str, month: str = MONTH, cases=CASES) -> PageRows:
    """The province's records of the constructed ``month`` (none for a province that makes none of the products)."""
    return output_page(province, month, {code: values for code, (values, _) in cases.items()}, ytd_months=6)


def _load_constructed(loader_dsn: str, month: str = MONTH, cases=CASES, only: list[str] | None = None) -> None:
    """Every province's partition of ``month`` (``only`` these): a national figure is shown only once
    every province has loaded the month."""
    for province in only or PROVINCES:
        load_page(loader_dsn, DATASET, province, month, _constructed_page(province, month, cases))


@pytest.fixture(scope="module")
def scratch(services, tmp_path_factory):
    """DSNs of a freshly provisioned scratch database (``admin``, ``loader``, ``transformer``) holding
    both data sets and the mart built on them as the transformer; ``dbt_env``: dbt's settings for it."""
    with scratch_warehouse(services, SCRATCH) as dsns:
        _load_constructed(dsns["loader"])
        with pointed_at(dsns, tmp_path_factory.mktemp("dbt-target")) as settings:
            for period in DEMO_PERIODS:
                for code in PROVINCES:
                    pipeline.load_extracted(pipeline.extract_partition(DATASET, code, period))
            run_dbt(
                *("build", "--select", "provinces", "products", "+mart_industrial_output_monthly"),
                *("--exclude", "resource_type:test", "--quiet"),
            )
            dsns["dbt_env"] = settings.dbt_env()
        yield dsns


@pytest.fixture(scope="module")
def admin(scratch):
    with psycopg.connect(scratch["admin"], autocommit=True) as conn:
        yield conn


@pytest.fixture
def temp_reader(admin):
    """A throwaway reader in the given roles (cluster-wide, so uniquely named and dropped afterwards)."""
    with throwaway_roles(admin, "ibdc_sdctest_") as make:
        yield make


Cell = tuple[str, date]  # (product_code, period_month)


@pytest.fixture(scope="module")
def truth(admin) -> dict[Cell, dict[str, Decimal]]:
    """Every cell's contributors and their output in the month, as the administrator reads the mart."""
    cells: dict[Cell, dict[str, Decimal]] = defaultdict(dict)
    for product, month, province, value in admin.execute(
        f"SELECT product_code, period_month, province_code, output_value FROM {MART}"
    ).fetchall():
        cells[product, month][province] = value
    months = {m for _, m in cells}
    assert months == {_first(MONTH), *map(_first, DEMO_PERIODS)}, months
    demo = [c for c in cells if c[1] != _first(MONTH)]
    assert len({p for c in demo for p in cells[c]}) == 31 and len(demo) > 20  # every province, many cells
    return dict(cells)


def _round6(value: Decimal) -> Decimal:
    """As PostgreSQL's round(numeric, 6): halves away from zero."""
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _expected_flag(cell: dict[str, Decimal]) -> str | None:
    positive = [v for v in cell.values() if v > 0]
    if len(positive) < MIN_CONTRIBUTORS:
        return "frequency"
    if max(positive) > DOMINANCE * sum(positive):
        return "dominance"
    return None


@dataclass(frozen=True)
class Seen:
    """One row as a role reads it: its own output and what it is shown of its cell."""

    province: str
    product: str
    month: date
    own: Decimal
    total: Decimal | None
    share: Decimal | None
    rank: int | None
    reporting: int
    flag: str | None = None

    @property
    def cell(self) -> Cell:
        return self.product, self.month


SEEN = (
    "province_code, product_code, period_month, output_value,"
    " national_output_value, national_share, province_rank, provinces_reporting"
)


def _seen_disclosed(admin, role: str) -> list[Seen]:
    return [Seen(*r) for r in query_as(admin, role, f"SELECT {SEEN}, national_suppression FROM {DISCLOSED}")]


def _seen_mart(admin, role: str) -> list[Seen]:
    return [Seen(*r) for r in query_as(admin, role, f"SELECT {SEEN} FROM {MART}")]


def _rank_bounds(seen: Seen) -> list[tuple[str, Decimal, Decimal | None]]:
    """What the row's rank (rank(): ties share one) tells of each other contributor: the r - 1 above
    produce more than the own output, the n - r others (ties among them) at most as much and at
    least 0, and all of them together the total minus the own output when the total is shown.
    ``(group, lower, upper)`` per group (``upper`` None: unbounded)."""
    v, r, n = seen.own, seen.rank, seen.reporting
    above, below = r - 1, n - r
    rest = None if seen.total is None else seen.total - v
    bounds = []
    if below:
        low = Decimal(0) if above or rest is None else max(Decimal(0), rest - (below - 1) * v)
        high = v if rest is None else min(v, rest - above * v)
        bounds.append(("below", low, high))
    if above:
        low = v if above > 1 or rest is None else max(v, rest - below * v)
        high = None if rest is None else rest - (above - 1) * v
        bounds.append(("above", low, high))
    return bounds


def _attack(seen: list[Seen], truth: dict[Cell, dict[str, Decimal]]) -> list[tuple]:
    """Every other province's output a reader of ``seen`` computes: ``(method, attacker, cell,
    victim, value)``. Subtraction: the total minus the own output; share: the own output over its
    share (rounded to 6 places: the interval of totals it allows) minus the own output, each compared
    with every other contributor's true output; rank: a group of others the rank bounds to one value."""
    found = []
    for s in seen:
        others = {q: x for q, x in truth[s.cell].items() if q != s.province}
        estimates = []
        if s.total is not None:
            estimates.append(("subtraction", s.total - s.own, s.total - s.own))
        if s.share is not None and s.share > SHARE_HALF_UNIT and s.own > 0:
            low, high = s.own / (s.share + SHARE_HALF_UNIT), s.own / (s.share - SHARE_HALF_UNIT)
            estimates.append(("share", low - s.own, high - s.own))
        for method, low, high in estimates:
            found += [(method, s.province, s.cell, q, x) for q, x in others.items() if low <= x <= high]
        if s.rank is not None:
            for group, low, high in _rank_bounds(s):
                if low == high:
                    pinned = [q for q, x in others.items() if x == low] or [group]
                    found += [("rank", s.province, s.cell, q, low) for q in pinned]
    return found


def test_no_provincial_analyst_computes_another_provinces_output(admin, truth):
    """Every provincial analyst, over both data sets: what it reads pins no other province's output,
    and every cell it is shown has 3+ positive contributors and none over 0.75 of the total."""
    attacks = shown = suppressed = 0
    for code, role in ANALYSTS.items():
        granted = [
            c
            for (c,) in admin.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
                " AND has_column_privilege(%s, attrelid, attnum, 'SELECT') ORDER BY attnum",
                (MART, role),
            ).fetchall()
        ]
        assert not set(AGGREGATES) & set(granted), (role, granted)
        own = query_as(admin, role, f"SELECT {', '.join(granted)} FROM {MART}")
        seen = _seen_disclosed(admin, role)
        want = sorted((c, v) for c, cell in truth.items() for p, v in cell.items() if p == code)
        assert sorted((s.cell, s.own) for s in seen) == want, role  # its own rows, all of them
        assert {r[granted.index("province_code")] for r in own} <= {code}, role
        assert len(own) == len(want), role
        for s in seen:
            cell = truth[s.cell]
            assert s.rank is None, (role, s)
            if s.total is None:
                assert s.share is None, (role, s)  # the share would give the total back
            assert s.flag == _expected_flag(cell), (role, s, cell)
            if s.flag is None:
                positive = [v for v in cell.values() if v > 0]
                assert len(positive) >= MIN_CONTRIBUTORS and max(positive) <= DOMINANCE * sum(positive), (role, cell)
                assert s.total == sum(cell.values()), (role, s)
                assert s.share == _round6(s.own / s.total), (role, s)
                shown += 1
            else:
                assert s.total is None and s.share is None, (role, s)
                suppressed += 1
        found = _attack(seen, truth)
        assert not found, f"{role} computes another province's output: {found}"
        attacks += len(seen)
    assert attacks == sum(len(c) for c in truth.values())
    assert shown and suppressed  # both kinds of cell were attacked


def test_the_same_attack_on_the_unsuppressed_mart_recovers_the_other_producer(admin, truth):
    """The control: the national analyst, reading the mart unsuppressed, runs the same attack as
    110000 would: the subtraction and the share give 320000's crude steel (40), the rank of one of
    three equal producers pins the other two (50)."""
    month = _first(MONTH)
    as_beijing = [s for s in _seen_mart(admin, NATIONAL) if s.province == "110000" and s.month == month]
    found = _attack(as_beijing, truth)
    assert ("subtraction", "110000", ("crude_steel", month), "320000", Decimal(40)) in found
    assert ("share", "110000", ("crude_steel", month), "320000", Decimal(40)) in found
    pinned = {(m, q, x) for m, a, c, q, x in found if c == ("steel_products", month)}
    assert {("rank", "320000", Decimal(50)), ("rank", "440000", Decimal(50))} <= pinned, found
    # The analyst of 110000 reads the same cells in the view: nothing found there.
    assert not _attack(_seen_disclosed(admin, ANALYSTS["110000"]), truth)


@pytest.mark.parametrize(("product", "case"), list(CASES.items()), ids=list(CASES))
def test_the_constructed_cells_are_flagged_as_the_rule_says(admin, product, case):
    values, flag = case
    for province, value in values.items():
        rows = query_as(
            admin,
            ANALYSTS[province],
            f"SELECT output_value, national_output_value, national_share, province_rank, national_suppression"
            f" FROM {DISCLOSED} WHERE product_code = %s AND period_month = %s",
            (product, _first(MONTH)),
        )
        assert len(rows) == 1, (province, rows)
        own, total, share, rank, reason = rows[0]
        assert own == Decimal(value) and reason == flag and rank is None, (province, rows[0])
        if flag is None:
            assert total == sum(map(Decimal, values.values())), (province, rows[0])
            assert share is not None
        else:
            assert total is None and share is None, (province, rows[0])


def test_provincial_analysts_cannot_read_the_aggregates_nor_the_cells(admin):
    for role in ANALYSTS.values():
        for column in AGGREGATES:
            assert refused(admin, role, f"SELECT {column} FROM {MART} LIMIT 1"), (role, column)
        for column in ("product_code", "contributors", "largest_share", "suppression"):
            assert refused(admin, role, f"SELECT {column} FROM {CELLS} LIMIT 1"), (role, column)
        assert query_as(admin, role, f"SELECT count(*) FROM {MART}")[0][0] > 0  # what it may read, it reads
    for role in (NATIONAL, STEWARD, PARTNER):
        assert refused(admin, role, f"SELECT suppression FROM {CELLS} LIMIT 1"), role


@pytest.mark.parametrize("role", [NATIONAL, STEWARD])
def test_the_national_analyst_and_the_steward_read_the_mart_unsuppressed(admin, truth, role):
    seen = _seen_mart(admin, role)
    assert len(seen) == sum(len(c) for c in truth.values())
    for s in seen:
        total = sum(truth[s.cell].values())
        assert s.total == total, (role, s)
        assert s.share == (_round6(s.own / total) if total > 0 else None), (role, s)
        assert s.rank == 1 + sum(x > s.own for x in truth[s.cell].values()), (role, s)
        assert s.reporting == len(truth[s.cell])


def _marts_meta() -> dict[str, dict[str, dict]]:
    """Each mart's columns' meta, from the marts' YAML."""
    found = {}
    for path in sorted((DBT_PROJECT_DIR / "models" / "marts").glob("*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            found[model["name"]] = {c["name"]: c.get("meta") or {} for c in model.get("columns", [])}
    return found


def test_the_exchange_partner_reads_no_aggregate_but_counts(admin):
    meta = _marts_meta()
    marts = [
        name
        for (name,) in admin.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'marts' AND c.relkind IN ('r', 'p') AND c.relname = ANY(%s)",
            (list(meta),),
        ).fetchall()
    ]
    assert "mart_industrial_output_monthly" in marts
    for mart in marts:
        selectable = [
            c
            for (c,) in admin.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
                " AND has_column_privilege(%s, attrelid, attnum, 'SELECT')",
                (f"marts.{mart}", PARTNER),
            ).fetchall()
        ]
        assert selectable, mart
        for column in selectable:
            m = meta[mart][column]
            assert int(m.get("security_level", 0)) == 1, (mart, column, m)
            d = m.get("disclosure")
            assert d == "own" or (isinstance(d, dict) and d.get("aggregate") == "count"), (mart, column, d)
        assert "provinces_reporting" in selectable or mart != "mart_industrial_output_monthly"
        view = f"marts.{mart}_disclosed"
        if admin.execute("SELECT to_regclass(%s)", (view,)).fetchone()[0] is None:
            continue
        if admin.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (PARTNER, view)).fetchone()[0]:
            readable = admin.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
                " AND has_column_privilege(%s, attrelid, attnum, 'SELECT')",
                (view, PARTNER),
            ).fetchall()
            assert all(int(meta[mart].get(c, {}).get("security_level", 0)) == 1 for (c,) in readable), readable
        else:
            assert refused(admin, PARTNER, f"SELECT national_suppression FROM {view} LIMIT 1")


def test_suppressed_cells_per_role_in_the_demos_data(admin, truth):
    """How many of its rows of the demo's months each role reads with the national cell suppressed
    (printed: ``pytest -s``)."""
    demo = [_first(p) for p in DEMO_PERIODS]
    counts = {}
    for role in ANALYSTS.values():
        rows = query_as(
            admin,
            role,
            f"SELECT product_code, period_month, national_suppression FROM {DISCLOSED} WHERE period_month = ANY(%s)",
            (demo,),
        )
        expected = [(p, m, _expected_flag(truth[p, m])) for p, m, _ in rows]
        assert sorted(rows) == sorted(expected), role
        counts[role] = (sum(f is not None for *_, f in rows), len(rows))
    for role in (NATIONAL, STEWARD):
        nulls, total = query_as(
            admin,
            role,
            f"SELECT count(*) FILTER (WHERE national_output_value IS NULL), count(*) FROM {MART}"
            " WHERE period_month = ANY(%s)",
            (demo,),
        )[0]
        assert nulls == 0 and total > 0, role
        counts[role] = (nulls, total)
    cells = [c for c in truth if c[1] in demo]
    flags = [_expected_flag(truth[c]) for c in cells]
    print(f"\ndemo data {', '.join(DEMO_PERIODS)}: {len(cells)} cells,", end=" ")
    print(f"{flags.count('frequency')} suppressed for frequency, {flags.count('dominance')} for dominance")
    for role, (n, total) in counts.items():
        print(f"  {role}: {n} of {total} rows suppressed")
    assert sum(n for n, _ in counts.values()) == sum(
        len(truth[c]) for c, f in zip(cells, flags, strict=True) if f is not None
    )


# The dbt test on a copy of the project, one mart's meta changed.
NATIONAL_SUM_META = (
    ", disclosure: {aggregate: sum, over: province_code, within: [product_code, period_month],"
    " of: output_value, cell: national, complete: {dataset: industrial_output, period: period_month}}}"
)


def _project_copy(tmp_path: Path, change: tuple[str, str] | None) -> Path:
    """The dbt project copied (the seeds' links into plugins/ibdc/reference as files; no target nor
    logs), mart_industrial_output_monthly.yml's text ``change[0]`` replaced by ``change[1]``."""
    copy = tmp_path / "dbt_project"
    top = str(DBT_PROJECT_DIR)
    shutil.copytree(
        DBT_PROJECT_DIR, copy, symlinks=False, ignore=lambda d, names: ["target", "logs"] if d == top else []
    )
    if change:
        yml = copy / "models" / "marts" / "mart_industrial_output_monthly.yml"
        text = yml.read_text()
        assert text.count(change[0]) == 1, change[0]
        yml.write_text(text.replace(*change))
    return copy


@dataclass
class DbtTest:
    """What ``dbt test --select assert_marts_declare_disclosure`` did: whether it passed, its status
    (``pass``, ``fail``, ``error``), the problems its compiled query returns (None when the query
    does not run), dbt's messages."""

    ok: bool
    status: str | None
    problems: list[tuple] | None
    said: str


def _dbt_test(scratch, copy: Path, monkeypatch) -> DbtTest:
    """The dbt test on the copy, as the scratch database's transformer (the environment run_dbt sets)."""
    from dbt.cli.main import dbtRunner

    for key, value in scratch["dbt_env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DBT_TARGET_PATH", str(copy / "target"))
    argv = ["test", "--select", "assert_marts_declare_disclosure", "--project-dir", str(copy)]
    result = dbtRunner().invoke([*argv, "--profiles-dir", str(copy)])
    messages = [str(result.exception or "")]
    status, problems = None, None
    for r in getattr(result.result, "results", None) or []:
        messages.append(f"{r.node.name}: {r.status}: {r.message}")
        if r.node.name != "assert_marts_declare_disclosure":
            continue
        status = str(r.status)
        if getattr(r.node, "compiled_code", None):
            with psycopg.connect(scratch["admin"]) as conn:
                try:
                    problems = conn.execute(r.node.compiled_code).fetchall()
                except psycopg.Error as exc:
                    messages.append(f"its query: {exc}")
    return DbtTest(result.success, status, problems, "\n".join(messages))


def test_the_dbt_test_passes_the_project_as_it_is(scratch, tmp_path, monkeypatch):
    run = _dbt_test(scratch, _project_copy(tmp_path, None), monkeypatch)
    assert run.ok and run.status == "pass" and run.problems == [], run.said


def test_the_dbt_test_fails_a_mart_aggregate_without_disclosure_meta(scratch, tmp_path, monkeypatch):
    """The failing row names the mart, the column and what is missing."""
    run = _dbt_test(scratch, _project_copy(tmp_path, (NATIONAL_SUM_META, "}")), monkeypatch)
    assert not run.ok and run.status == "fail", run.said
    assert [(m, c) for m, c, _ in run.problems] == [("mart_industrial_output_monthly", "national_output_value")]
    assert "no meta.disclosure" in run.problems[0][2]


def test_the_dbt_test_fails_a_level_1_share_of_level_2_values(scratch, tmp_path, monkeypatch):
    """national_share graded level 1: the partner would read a share of the provinces' outputs, which
    (with the level-2 total) gives them back: the project fails to compile the test."""
    share = "meta: {miit_domain: production, security_level: 2, disclosure: {aggregate: share"
    copy = _project_copy(tmp_path, (share, share.replace("security_level: 2", "security_level: 1")))
    run = _dbt_test(scratch, copy, monkeypatch)
    assert not run.ok and run.status in ("fail", "error"), run.said
    assert "national_share is a level-1 aggregate" in run.said, run.said


def test_the_dbt_test_fails_a_level_2_value_computable_from_level_1_columns(scratch, tmp_path, monkeypatch):
    """output_value graded level 1: output_value_base (level 2) is computed from it alone."""
    own = (
        "meta: {miit_domain: production, security_level: 2, disclosure: own}\n"
        "      data_tests: [non_negative]\n    - name: output_ytd\n"
    )
    copy = _project_copy(tmp_path, (own, own.replace("security_level: 2", "security_level: 1")))
    run = _dbt_test(scratch, copy, monkeypatch)
    assert not run.ok and run.status == "fail", run.said
    assert [(m, c) for m, c, _ in run.problems] == [("mart_industrial_output_monthly", "output_value_base")]
    assert "computable from the level-1 columns" in run.problems[0][2]


def test_a_reader_holding_two_provinces_sees_no_national_figure(admin, temp_reader):
    """Two provinces' rows subtracted from a total of three would give the third: a reader in two
    provincial roles reads every cell's aggregates NULL, flagged."""
    reader = temp_reader(ANALYSTS["110000"], ANALYSTS["320000"])
    rows = query_as(
        admin, reader, f"SELECT province_code, {', '.join(AGGREGATES)}, national_suppression FROM {DISCLOSED}"
    )
    assert {r[0] for r in rows} == {"110000", "320000"}
    assert all(r[1:4] == (None, None, None) and r[4] for r in rows), rows[:3]
    # A cell the rule shows to either province alone says why this reader sees it NULL.
    assert sum(r[4] == "several provinces" for r in rows) > len(rows) / 2, rows[:3]


def test_a_withheld_column_is_null_in_the_disclosed_view(scratch, tmp_path, monkeypatch):
    """A column without a grade (steward only) or without disclosure meta is withheld from the
    provincial analysts in the mart: the view they read has it NULL, not the mart's value."""
    from dbt.cli.main import dbtRunner

    ungraded = (
        "meta: {miit_domain: production, security_level: 2, disclosure: own}\n"
        "      data_tests: [non_negative]\n    - name: output_value_base"
    )
    copy = _project_copy(tmp_path, (ungraded, ungraded.replace("security_level: 2, ", "")))
    for key, value in scratch["dbt_env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DBT_TARGET_PATH", str(copy / "target"))
    inline = "{{ apply_governance(ref('mart_industrial_output_monthly')) }}"
    argv = ["compile", "--inline", inline, "--project-dir", str(copy), "--profiles-dir", str(copy), "--quiet"]
    result = dbtRunner().invoke(argv)
    assert result.success, result.exception
    compiled = result.result.results[0].node.compiled_code
    view = compiled[compiled.index("CREATE VIEW") :]
    assert 'NULL::numeric AS "output_ytd"' in view and 'm."output_ytd"' not in view, view[:2000]
    assert 'm."output_value"' in view  # the graded columns as they are


LATE_MONTH = "2023-07"
LATE_CASE = {"cement": ({"110000": "40", "320000": "30", "440000": "20", "330000": "10"}, None)}


def test_a_national_figure_waits_for_every_province_so_no_two_totals_give_a_late_one(scratch, admin, tmp_path):
    """Provinces load apart: a total over the 30 loaded, then over 31, would give the 31st's output as
    their difference. The figure is shown once every province has loaded the month ('incomplete'
    before): the analyst of 110000 never sees two totals of the cell."""
    cell = (
        "SELECT national_output_value, national_suppression FROM {} WHERE product_code = 'cement' AND period_month = %s"
    )
    month = _first(LATE_MONTH)
    seen, truth = [], []
    with pointed_at(scratch, tmp_path / "dbt-target"):
        for batch in ([p for p in PROVINCES if p != "330000"], ["330000"]):
            _load_constructed(scratch["loader"], LATE_MONTH, LATE_CASE, only=batch)
            run_dbt("run", "--select", "mart_industrial_output_monthly", "--quiet")
            seen.append(query_as(admin, ANALYSTS["110000"], cell.format(DISCLOSED), (month,)))
            truth.append(admin.execute(cell.format(MART).replace(", national_suppression", ""), (month,)).fetchone()[0])
    assert truth == [Decimal("90"), Decimal("100")]  # unsuppressed, the difference is 330000's 10: the attack
    assert seen == [[(None, "incomplete")], [(Decimal("100"), None)]]
