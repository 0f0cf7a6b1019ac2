"""Write the newest batch of applications (a stand-in for the lender's feed).

    python monitor/new_batch.py covariate_shift data/incoming/batch.parquet

The course's generator writes 30 days of applications after the training
year, with one of its named drift scenarios (none, covariate_shift,
new_category, concept_drift, broken_feed) applied. Replace this script with
the export of your own source: everything downstream only reads the file.
"""

import sys
from pathlib import Path

from mlops_course.data import SCENARIOS, drift_scenario


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in SCENARIOS:
        print(
            f"usage: python monitor/new_batch.py {{{','.join(SCENARIOS)}}} OUT",
            file=sys.stderr,
        )
        return 2
    scenario, out = argv[0], Path(argv[1])
    batch = drift_scenario(scenario, n_rows=1_000).frame
    # The generator numbers every batch from 1; a real feed's ids are unique.
    batch["application_id"] = "B" + batch["application_id"]
    out.parent.mkdir(parents=True, exist_ok=True)
    batch.to_parquet(out, index=False)
    print(f"wrote {len(batch)} applications ({scenario}) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
