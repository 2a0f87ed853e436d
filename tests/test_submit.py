"""Manual submission: an operator's form goes through the same parsing, validation and ledger."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from cli.app import main
from warehouse import schema
from warehouse.store import Warehouse
from zonestats.catalog import shipped_catalog
from zonestats.config import load_config

ROWS = [
    ("营业收入", "revenue", "万元", "123,456.7"),
    ("税收收入", "tax_revenue", "元", 98765432),
    ("规模以上工业企业数", "above_scale_enterprises", "个", 57),
    ("用电量", "electricity_consumption", "万千瓦时", "-5"),
]


def form_yq1(
    period_text: str, rows: list[tuple[str, str, str, object]] = ROWS, number: str = "YQ1"
) -> bytes:
    """A YQ1 form as zones fill it in (title, header block, table, footer)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["园区综合月报"])
    ws.merge_cells("A1:F1")
    ws.append([f"表号：{number}"])
    ws.append(["填报单位：阳泉经济技术开发区"])
    ws.append([f"报告期：{period_text}"])
    ws.append([])
    ws.append(["指标名称", "代码", "计量单位", "1-本期累计", "上年同期", "同比增长(%)"])
    for name, code, unit, value in rows:
        ws.append([name, f"{code} ", unit, value, None, None])
    ws.append(["单位负责人：张三", None, "统计负责人：李四", None, "报出日期：2026-11-16"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def config(tmp_path: Path, warehouse_url: str) -> Path:
    cfg = tmp_path / "zonestats.toml"
    cfg.write_text(
        f'[warehouse]\nurl = "{warehouse_url}"\ndata_dir = "{(tmp_path / "d").as_posix()}"\n'
    )
    return cfg


def submit(config: Path, file: Path, period: str = "2026-10", form: str = "YQ1") -> int:
    return main(
        [
            "submit",
            "--zone",
            "YQ01",
            "--form",
            form,
            "--period",
            period,
            "--file",
            str(file),
            "--config",
            str(config),
        ]
    )


def test_submitted_form_loads_like_a_published_one(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "yq1.xlsx"
    f.write_bytes(form_yq1("2026年1-10月"))
    assert submit(config, f) == 0
    assert "loaded (manual" in capsys.readouterr().out
    wh = Warehouse(load_config(config, shipped_catalog()).warehouse)
    ledger = wh.ledger().iloc[0]
    assert (ledger["status"], ledger["source"], ledger["revision"]) == ("loaded", "manual", 1)
    assert (
        ledger["records_received"],
        ledger["records_loaded"],
        ledger["records_quarantined"],
    ) == (4, 3, 1)
    import hashlib

    assert ledger["source_sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
    with wh.connect() as conn:
        obs = {r.indicator_code: r.value for r in conn.execute(select(schema.obs_zone))}
        q = conn.execute(select(schema.quarantine.c.record_key, schema.quarantine.c.rule)).all()
    assert obs == {"revenue": 123456.7, "tax_revenue": 9876.5432, "above_scale_enterprises": 57.0}
    # the form holds four lines: the other mandatory indicators are warned about as missing
    assert [tuple(r) for r in q if r.rule != "mandatory_missing"] == [
        ("electricity_consumption", "value_below_min")
    ]
    assert {r.record_key for r in q if r.rule == "mandatory_missing"} == {
        "industrial_output", "industrial_va_growth", "fixed_asset_investment",
        "energy_consumption", "electricity_consumption",
    }  # fmt: skip
    assert wh.watermark("YQ01", "zone") is None  # an operator's file does not move the zone's

    # the same file again adds nothing; a corrected file is the next revision
    assert submit(config, f) == 0
    assert "already loaded" in capsys.readouterr().out
    fixed = [*ROWS[:3], ("用电量", "electricity_consumption", "万千瓦时", "5")]
    f2 = tmp_path / "yq1-fixed.xlsx"
    f2.write_bytes(form_yq1("2026年1-10月", fixed))
    assert submit(config, f2) == 0
    ledger = wh.ledger()
    assert ledger[["revision", "status", "records_quarantined"]].values.tolist() == [
        [1, "loaded", 1],
        [2, "loaded", 0],
    ]


def test_a_report_period_that_disagrees_is_rejected_naming_both(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "yq1.xlsx"
    f.write_bytes(form_yq1("2026年1-9月"))
    assert submit(config, f) == 1
    out = capsys.readouterr().out
    assert "rejected" in out
    wh = Warehouse(load_config(config, shipped_catalog()).warehouse)
    row = wh.ledger().iloc[0]
    assert row["status"] == "rejected"
    assert "2026年1-9月" in row["last_error"]
    assert "2026-10" in row["last_error"]


def test_a_form_number_that_disagrees_is_rejected(config: Path, tmp_path: Path) -> None:
    f = tmp_path / "yq2.xlsx"
    f.write_bytes(form_yq1("2026年1-10月", number="YQ2"))
    assert submit(config, f) == 1
    wh = Warehouse(load_config(config, shipped_catalog()).warehouse)
    assert "表号" in wh.ledger().iloc[0]["last_error"]


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--form", "YQ9"], "--form"),
        (["--period", "2026-01"], "--period"),
        (["--zone", "XX01"], "--zone"),
    ],
)
def test_bad_arguments_exit_2(
    config: Path, tmp_path: Path, args: list[str], key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "yq1.xlsx"
    f.write_bytes(form_yq1("2026年1-10月"))
    base = {"--zone": "YQ01", "--form": "YQ1", "--period": "2026-10"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = [
        "submit",
        *[x for kv in base.items() for x in kv],
        "--file",
        str(f),
        "--config",
        str(config),
    ]
    assert main(argv) == 2
    assert key in capsys.readouterr().err
