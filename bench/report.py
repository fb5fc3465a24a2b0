"""The machine a run was on, and the results as a table of figures, baselines and ratios."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from bench import db
from worker.db import connect

Row = tuple[str, str, str, str, str, str]


def machine() -> dict[str, Any]:
    with connect(os.environ.get("DATABASE_URL", db.SERVER_URL)) as conn:
        pg = conn.execute("SHOW server_version").fetchone()
    redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "postgres": pg[0] if pg else "?",
        "redis": redis_v.stdout.split()[2].removeprefix("v=") if redis_v.stdout else "?",
        "load_before": os.getloadavg(),
    }


def _ratio(value: float, base: float) -> float:
    return value / base if base else float("nan")


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def _ingest_rows(r: dict[str, Any]) -> list[Row]:
    e, h, n = r["endpoint"], r["hello"], r["naive"]
    vs_h, vs_n = _ratio(e["rps"], h["rps"]), _ratio(e["rps"], n["rps"])
    return [
        ("ingest req/s vs hello-world", f"{e['rps']:,.0f}", f"{h['rps']:,.0f}", f"{vs_h:.2f}x",
         ">= 0.5x", _met(vs_h >= 0.5)),
        ("ingest req/s vs naive verify+upsert", f"{e['rps']:,.0f}", f"{n['rps']:,.0f}",
         f"{vs_n:.2f}x", ">= 2x", _met(vs_n >= 2)),
        ("ingest p99 ms (baseline: hello / naive)", f"{e['p99_ms']:.1f}",
         f"{h['p99_ms']:.1f} / {n['p99_ms']:.1f}", "", "< 50 ms", _met(e["p99_ms"] < 50)),
        ("ingest req/s of each round (hello / naive)", _rounds(e),
         f"{_rounds(h)} / {_rounds(n)}", "", "", ""),
        ("ingest CPU us/req web+postgres+wrk", _cpu(e), f"{_cpu(h)} / {_cpu(n)}", "", "", ""),
    ]  # fmt: skip


def _probe_rows(r: dict[str, Any]) -> list[Row]:
    """The endpoint without its inbox write, or with a sleep instead: what the write costs."""
    rows: list[Row] = []
    for probe, label in (("endpoint_without_store", "no inbox write"),
                         ("endpoint_with_sleep_store", "0.6 ms sleep for the write")):  # fmt: skip
        p = r[probe]
        rows.append((f"probe: endpoint, {label}, req/s", f"{p['rps']:,.0f}",
                     f"{r['hello']['rps']:,.0f}", f"{_ratio(p['rps'], r['hello']['rps']):.2f}x",
                     "", ""))  # fmt: skip
        rows.append((f"probe: {label}, CPU us/req", _cpu(p), "", "", "", ""))
    return rows


def _rounds(r: dict[str, Any]) -> str:
    return " ".join(str(rps) for rps in r.get("rounds_rps", [round(r["rps"])]))


def _cpu(r: dict[str, Any]) -> str:
    cpu = r.get("cpu_us") or {}
    return "+".join(str(cpu.get(key, "?")) for key in ("web", "postgres", "wrk"))


def _drain_rows(r: dict[str, Any]) -> list[Row]:
    ratio = _ratio(r["per_s"], r["noop"]["per_s"])
    rows: list[Row] = [
        ("drain events/s vs no-op tasks/s", f"{r['per_s']:,.0f}", f"{r['noop']['per_s']:,.0f}",
         f"{ratio:.1f}x", ">= 5,000/s, >= 4x", _met(r["per_s"] >= 5000 and ratio >= 4)),
        (f"drain = one-by-one ({r['sample_users']} users)", str(r["same_as_one_by_one"]), "", "",
         "same rows", _met(r["same_as_one_by_one"])),
        ("drain events/s of each round", " ".join(map(str, r.get("rounds_per_s", []))),
         "", "", "", ""),
    ]  # fmt: skip
    if "raw_s" in r:
        ratio = r["raw_ratio"]
        rows.append((f"drain s vs raw COPY of its {r['raw_rows']:,} rows + inbox update s",
                     f"{r['seconds']:.2f}", f"{r['raw_s']:.2f}", f"{ratio:.2f}x", ">= 0.6x",
                     _met(ratio >= 0.6)))  # fmt: skip
    return rows


def _latency_rows(r: dict[str, Any]) -> list[Row]:
    return [
        ("2xx -> applied p50 ms (inbox)", f"{r['applied_p50_ms']:.1f}", "", "", "< 20 ms",
         _met(r["applied_p50_ms"] < 20)),
        ("2xx -> applied p99 ms (inbox)", f"{r['applied_p99_ms']:.1f}", "", "", "< 100 ms",
         _met(r["applied_p99_ms"] < 100)),
        ("client send -> 2xx p50 / p99 ms", f"{r['client_p50_ms']:.1f} / {r['client_p99_ms']:.1f}",
         "", "", "", ""),
        ("web RSS MB first / last (latency run)",
         f"{r['rss_mb']['web']['first']:.0f} / {r['rss_mb']['web']['last']:.0f}", "", "",
         "flat", ""),
        ("worker RSS MB first / last (latency run)",
         f"{r['rss_mb']['worker']['first']:.0f} / {r['rss_mb']['worker']['last']:.0f}", "", "",
         "flat", ""),
    ]  # fmt: skip


def _ms(ms: float) -> str:
    """Milliseconds, with two decimals where whole ones would hide the figure."""
    return f"{ms:,.0f}" if ms >= 10 else f"{ms:.2f}"


def _reports_rows(r: dict[str, Any]) -> list[Row]:
    """Each report beside a full scan of the tables it reads (same run), within 3x."""
    rows: list[Row] = []
    for name, q in r["reports"].items():
        rows.append((f"report {name} ms vs scan of {' + '.join(q['tables'])}", _ms(q["ms"]),
                     _ms(q["scan_ms"]), f"{q['ratio']:.2f}x", "<= 3x",
                     _met(q["ratio"] <= 3)))  # fmt: skip
        if "ledger_scan_ms" in q:
            ratio = q["ms"] / q["ledger_scan_ms"]
            rows.append((f"report {name} ms vs scan of sms_messages", _ms(q["ms"]),
                         _ms(q["ledger_scan_ms"]), f"{ratio:.2f}x", "<= 3x",
                         _met(ratio <= 3)))  # fmt: skip
    ms = r["as_of_user_ms"]
    rows.append(("report phone_numbers_as_of(now(), user) ms", f"{ms:.2f}", "", "", "< 10 ms",
                 _met(ms < 10)))  # fmt: skip
    return rows


def _paced_rows(
    label: str, job: dict[str, Any], before: dict[str, Any], after: dict[str, Any]
) -> list[Row]:
    """The paced load's 2xx-to-applied latency while the job ran, against the same load's
    in the rounds alone on either side (their mean)."""
    rows: list[Row] = []
    for p in ("p50", "p99"):
        key = f"applied_{p}_ms"
        alone = (before["latency"][key] + after["latency"][key]) / 2
        ms = job["latency"][key]
        rows.append((f"  {label}: 2xx -> applied {p} ms", f"{ms:.1f}", f"{alone:.1f}",
                     f"{_ratio(ms, alone):.2f}x", "", ""))  # fmt: skip
    lat = job["latency"]
    rows.append((f"  {label}: paced events applied, non-2xx, job ran throughout",
                 f"{lat['applied']:,} of {lat['sent']:,}", f"{lat['non_2xx']}", "", "",
                 _met(bool(job.get("job_outlasted_paced")))))  # fmt: skip
    return rows


def _inbox_rows(r: dict[str, Any]) -> list[Row]:
    """Each read at the large size beside the base size: within 5x and under 200 ms."""
    base, large = r["base"], r["large"]
    rows: list[Row] = []
    for name, ms in large["reads_ms"].items():
        was = base["reads_ms"][name]
        ratio = _ratio(ms, was)
        rows.append((f"inbox {large['rows']:,} rows: {name} ms", f"{ms:.1f}",
                     f"{was:.1f} ({base['rows']:,} rows)", f"{ratio:.1f}x", "<= 5x, < 200 ms",
                     _met(ratio <= 5 and ms < 200)))  # fmt: skip
    built = large.get("index_s", {})
    new = [n for n in built if n.split(".")[-1].startswith(("webhook_events_received",
           "webhook_events_closed", "webhook_events_purgeable"))]  # fmt: skip
    if new:
        rows.append((f"inbox {large['rows']:,} rows: build 0022's indexes s",
                     f"{sum(built[n] for n in new):.0f}", "", "", "", ""))  # fmt: skip
    kept = large.get("retention")
    if kept:
        between = kept.get("alone_between")
        for job, label, before, after in (
            ("purge", "purge 30 days of payloads", kept["alone"], between or kept["alone_again"]),
            ("remove", "remove 30 days of rows", between or kept["alone"], kept["alone_again"]),
        ):
            # The rounds alone on either side of the job's round: its baseline.
            alone = (before["per_s"] + after["per_s"]) / 2
            j = kept[job]
            ratio = _ratio(j["per_s"], alone)
            rows.append((f"drain events/s during {label}", f"{j['per_s']:,.0f}", f"{alone:,.0f}",
                         f"{ratio:.2f}x", ">= 0.8x",
                         _met(ratio >= 0.8 and j["job_outlasted_drain"])))  # fmt: skip
            rows.append((f"  {label}: rows, s, longest batch s", f"{j['job_rows']:,}",
                         f"{j['job_s']:.1f} s", f"{j['job_longest_batch_s']:.2f} s",
                         "batch < 5 s", _met(j["job_longest_batch_s"] < 5)))  # fmt: skip
            if "job_yielded_s" in j:
                rows.append((f"  {label}: s waiting for the worker", f"{j['job_yielded_s']:.1f}",
                             "", "", "", ""))  # fmt: skip
            if "latency" in j:
                rows += _paced_rows(label, j, before, after)
    return rows


SWEEP_TARGET_RATE = 695  # events/s, as on 2026-12-01


def _sweep_rows(r: dict[str, Any]) -> list[Row]:
    limit = r["p99_limit_ms"]
    rows: list[Row] = []
    for rate, f in r["rates"].items():
        p50, p99 = f["applied_p50_ms"], f["applied_p99_ms"]
        rows.append((f"paced {rate} ev/s: 2xx -> applied p50 / p99 ms", f"{p50:.1f} / {p99:.1f}",
                     "", "", f"p99 < {limit:.0f} ms", _met(p99 < limit)))  # fmt: skip
        warm = f.get("warmup", {})
        if warm.get("seconds"):
            rows.append((f"  its first {warm['seconds']} s on new processes (not counted)",
                         f"{warm['applied_p50_ms']:.1f} / {warm['applied_p99_ms']:.1f}",
                         "", "", "", ""))  # fmt: skip
    best = r["highest_rate"]
    p50 = r["rates"][str(best)]["applied_p50_ms"] if best else float("nan")
    met = best >= SWEEP_TARGET_RATE and p50 < 20
    target = f">= {SWEEP_TARGET_RATE}, p50 < 20"
    rows.append((f"highest paced rate with p99 < {limit:.0f} ms (its p50 ms)",
                 f"{best} ({p50:.1f})", "", "", target, _met(met)))  # fmt: skip
    return rows


# 5x the backfill of 2026-12-02 (1,100 to 1,340 users/s, when the drain applied about 7,000
# events/s): a listed user costs about what an event from the inbox does.
BACKFILL_TARGET = 0.8
# That backfill's best run, and the issue's own form of the target (5x it), printed beside
# the ratio: it was measured on another day, under another load.
BACKFILL_OLD_PER_S = 1_340
BACKFILL_OLD_TARGET = 5.0


def _backfill_rows(r: dict[str, Any]) -> list[Row]:
    if not r:
        return [("backfill: not available", "", "", "", "", "")]
    base = r.get("drain_per_s")
    if base is None:
        return [("backfill users/s", f"{r['users_per_s']:,.0f}", "", "", "", "")]
    ratio = _ratio(r["users_per_s"], base)
    old = _ratio(r["users_per_s"], BACKFILL_OLD_PER_S)
    return [
        (f"backfill users/s ({r['users']:,}) vs drain events/s", f"{r['users_per_s']:,.0f}",
         f"{base:,.0f}", f"{ratio:.2f}x", f">= {BACKFILL_TARGET}x", _met(ratio >= BACKFILL_TARGET)),
        ("backfill users/s vs 2026-12-02's best", f"{r['users_per_s']:,.0f}",
         f"{BACKFILL_OLD_PER_S:,}", f"{old:.2f}x", f">= {BACKFILL_OLD_TARGET:.0f}x",
         _met(old >= BACKFILL_OLD_TARGET)),
        *_backfill_cpu_rows(r),
    ]  # fmt: skip


def _backfill_cpu_rows(r: dict[str, Any]) -> list[Row]:
    cpu = r.get("cpu_us_per_user")
    if not cpu:
        return []
    keys = ("backfill", "classifier", "postgres", "fake_api")
    parts = " + ".join(f"{cpu[k]:,}" for k in keys if k in cpu)
    return [("backfill CPU µs/user: run + classifier + Postgres + fake API; cores", parts,
             "", f"{r['cores_busy']:.2f}", "", "")]  # fmt: skip


def table(results: dict[str, Any]) -> str:
    rows: list[Row] = [("figure", "measured", "baseline", "ratio", "target", "met")]
    if "ingest" in results:
        rows += _ingest_rows(results["ingest"])
    if "ingest-limits" in results:
        rows += _ingest_rows(results["ingest-limits"]) + _probe_rows(results["ingest-limits"])
    if "drain" in results:
        rows += _drain_rows(results["drain"])
    if "latency" in results:
        rows += _latency_rows(results["latency"])
    if "sweep" in results:
        rows += _sweep_rows(results["sweep"])
    if "scale" in results and "drain" in results:
        s, d = results["scale"], results["drain"]
        ratio = _ratio(s["per_s"], d["per_s"])
        rows.append(
            (
                f"drain events/s, {results['sizes']['scale_phones']:,} phones in mirror",
                f"{s['per_s']:,.0f}",
                f"{d['per_s']:,.0f}",
                f"{ratio:.2f}x",
                ">= 0.8x",
                _met(ratio >= 0.8),
            )
        )
        rows.append(("  same as one-by-one", str(s["same_as_one_by_one"]), "", "", "same rows",
                     _met(s["same_as_one_by_one"])))  # fmt: skip
        rows.append(("  events/s of each round", " ".join(map(str, s.get("rounds_per_s", []))),
                     "", "", "", ""))  # fmt: skip
    for name in ("drain", "scale"):
        if name in results:
            rows.append((f"worker peak RSS MB ({name})", f"{results[name]['worker_rss_mb']:.0f}",
                         "", "", "", ""))  # fmt: skip
    if "ingest" in results:
        rows.append(("web peak RSS MB (ingest, 3 workers)",
                     f"{results['ingest']['endpoint']['rss_mb']:.0f}", "", "", "", ""))  # fmt: skip
    if "reports" in results:
        rows += _reports_rows(results["reports"])
    if "inbox" in results:
        rows += _inbox_rows(results["inbox"])
    if "backfill" in results:
        rows += _backfill_rows(results["backfill"])
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)
