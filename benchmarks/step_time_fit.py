"""The bundled GPU profiles against published decode step times (specplan/plan/published_step_times.yaml).

    python benchmarks/step_time_fit.py            # per row: published, predicted, ratio; the medians; both c's
    python benchmarks/step_time_fit.py --refit    # also refit each profile from the table, beside its bundled terms
    python benchmarks/step_time_fit.py --json

A step row is predicted with the bundled profile's step time (the model's real architecture, its precision, batch,
context and TP); a ratio row as c = t_draft(1) / t_target(1), each model at its own TP. Printed: every row, the
median |log(predicted / published)| over the step rows (all, and the fitted ones), and c for the SpecDecode-Bench
pairs. Goals (issue 23): median ≤ 0.10, each c within 20% of the published one. Held-out rows are shown, not fitted.
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from specplan.plan import step_time_fit  # noqa: E402
from specplan.plan.hardware import load_profile  # noqa: E402
from specplan.plan.published_step_times import published_rows  # noqa: E402

MEDIAN_GOAL = 0.10
RATIO_TOLERANCE = 0.20


def table(rows) -> dict:
    """Every row's fit on its bundled profile, the medians and the ratio rows' c."""
    fits = []
    for row in rows:
        fit = step_time_fit.row_fits(load_profile(row.profile), [row])[0]
        fits.append({"id": row.id, "kind": row.kind, "profile": row.profile, "engine": row.engine, "tp": row.tp,
                     "published": fit.published, "predicted": fit.predicted, "ratio": fit.predicted / fit.published,
                     "log_ratio": fit.log_ratio, "fitted": row.fitted, "gpu_stated": row.gpu_stated})
    results = [step_time_fit.RowFit(f["id"], f["kind"], f["published"], f["predicted"]) for f in fits]
    fitted = [r for r, f in zip(results, fits) if f["fitted"]]
    ratios = {f["id"]: {"published": f["published"], "predicted": f["predicted"],
                        "within_tolerance": abs(f["ratio"] - 1) <= RATIO_TOLERANCE} for f in fits if f["kind"] == "ratio"}
    return {"rows": fits, "median_abs_log_all": step_time_fit.median_abs_log(results),
            "median_abs_log_fitted": step_time_fit.median_abs_log(fitted), "ratios": ratios}


def refits(rows) -> dict:
    """Per bundled profile with rows: its terms refitted from the table, beside the bundled ones."""
    out = {}
    for name in dict.fromkeys(row.profile for row in rows):
        bundled = load_profile(name)
        refit = step_time_fit.fit_profile(bundled, rows)
        out[name] = {key: {"bundled": getattr(bundled, key), "refit": float(getattr(refit, key))}
                     for key in step_time_fit.FIT_KEYS}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refit", action="store_true", help="refit each profile from the table and show both")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = published_rows()
    result = table(rows)
    if args.refit:
        result["refit"] = refits(rows)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'row':52} {'profile':14} {'published':>10} {'predicted':>10} {'ratio':>6}")
    for f in result["rows"]:
        unit = "c" if f["kind"] == "ratio" else "ms"
        mark = "" if f["fitted"] else "  (held out)"
        print(f"{f['id']:52} {f['profile']:14} {f['published']:9.3f}{unit:>1} {f['predicted']:9.3f}{unit:>1} "
              f"{f['ratio']:6.3f}{mark}")
    print(f"\nmedian |log(predicted/published)| over step rows: {result['median_abs_log_all']:.3f} (all), "
          f"{result['median_abs_log_fitted']:.3f} (fitted); goal ≤ {MEDIAN_GOAL}")
    for name, r in result["ratios"].items():
        verdict = "within" if r["within_tolerance"] else "OUTSIDE"
        print(f"c {name}: {r['predicted']:.3f} vs published {r['published']:.3f} ({verdict} {RATIO_TOLERANCE:.0%})")
    for name, terms in result.get("refit", {}).items():
        shown = ", ".join(f"{k} {v['bundled']:g} (refit {v['refit']:g})" for k, v in terms.items())
        print(f"{name}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
