"""Write the two-arm example curves ``veteran_os_standard`` and ``veteran_os_test``.

No RAIR-DTC trial in ``data/studies.csv`` has a Kaplan-Meier figure we could digitise with its
risk table, so the report's checks that need both arms of a trial (proportional hazards, hazard
ratios over time, RMST) are shown on a public trial instead: the Veterans' Administration lung
cancer trial (R's ``survival::veteran``, standard against test chemotherapy), whose patient data
are in ``tests/data/ipd/veteran.csv``. Its two Kaplan-Meier curves are clicked by
:func:`metaanalysis.survival.simulate_digitisation` (seeded: a person's uneven clicks with 0.3 %
jitter, on a 500 x 350 pixel figure) and the risk table is read every 100 days from the data, up to the arm's last
follow-up.

Run from the repository root: ``python data/curves/make_examples.py``. The output is committed;
rerunning with the same package version rewrites the same files.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from metaanalysis.survival import simulate_digitisation, write_curve

ROOT = Path(__file__).resolve().parents[2]
SEEDS = {"standard": 20261203, "test": 20261204}


def main() -> None:
    ipd = pd.read_csv(ROOT / "tests" / "data" / "ipd" / "veteran.csv")
    for code, arm in ((0, "standard"), (1, "test")):
        g = ipd[ipd["arm"] == code]
        curve = simulate_digitisation(
            g["time"].to_numpy(), g["event"].to_numpy(), n_clicks=80, jitter_time=0.003,
            jitter_surv=0.003, pixels=(500, 350), risk_step=100.0, axis_end=1000.0,
            # a figure's table stops where its curve stops
            risk_stop=float(g["time"].max() // 100 * 100),
            seed=SEEDS[arm], time_unit="days", study_id="veteran", arm=arm)
        curve = curve.__class__(**{
            **{f: getattr(curve, f) for f in curve.__dataclass_fields__},
            "outcome": "OS",
            "source": "R survival::veteran (Kalbfleisch and Prentice 1980), tests/data/ipd/veteran.csv",
            "locator": f"{arm} chemotherapy arm; clicks simulated by data/curves/make_examples.py "
                       f"(seed {SEEDS[arm]}), not read off a published figure",
            "notes": f"worked example of a two-arm curve pair: n {len(g)}, "
                     f"{int(g['event'].sum())} deaths in the data",
            "path": "",
        })
        write_curve(curve, ROOT / "data" / "curves" / f"veteran_os_{arm}")


if __name__ == "__main__":
    main()
