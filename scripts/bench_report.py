"""Prints each engine operation's cost from the criterion results of
scripts/bench.sh (target/criterion/<group>/<name>/new/estimates.json, read
from the repository root, or from the directory given as the one argument)
as a ratio to the bare primitive measured in the same run. An operation
whose results are missing (filtered out of the run) is left out."""
import json, pathlib, sys
root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
def mean_ns(group, name):
    est = json.loads((root / group / name / "new" / "estimates.json").read_text())
    return est["mean"]["point_estimate"], est["mean"]["confidence_interval"]
rows = [("unlock", "engine_unlock_600k", ["bare_pbkdf2_600k", "bare_pbkdf2_600k_after"], 1.05),
        ("jwt", "engine_sign_jwt", ["bare_p256_sign"], 1.3),
        ("lease", "engine_issue_10", ["bare_10_signatures"], None),
        ("audit", "verify_export_10k", ["bare_sha256_10k"], None),
        ("unlock_log", "after_1000_locked_entries", ["bare_pbkdf2_600k"], None),
        ("unlock_log", "full_check_1000", ["bare_pbkdf2_600k"], None),
        ("unlock_log", "full_check_10000", ["bare_pbkdf2_600k"], None)]
print()
print(f"{'operation':<26}{'engine':>14}{'bare':>14}{'ratio':>8}{'target':>8}")
for group, eng, bare, target in rows:
    try:
        e, _ = mean_ns(group, eng)
    except FileNotFoundError:
        continue  # filtered out of this run
    b = sum(mean_ns(group, x)[0] for x in bare) / len(bare)
    unit, div = ("ms", 1e6) if e > 1e6 else ("us", 1e3)
    shown = f"{target:.2f}" if target else "-"
    print(f"{group + '/' + eng:<26}{e/div:>11.3f} {unit}{b/div:>11.3f} {unit}{e/b:>8.3f}{shown:>8}")
