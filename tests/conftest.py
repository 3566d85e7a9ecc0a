"""Shared test settings."""

from __future__ import annotations

import pytest


def _freetype_minor():
    try:
        from matplotlib import ft2font
    except ImportError:
        return None
    parts = str(getattr(ft2font, "__freetype_version__", "0.0")).split(".")
    return tuple(int(p) for p in parts[:2] if p.isdigit())


# The committed PNG baselines were rasterised with the FreeType that matplotlib >= 3.11 bundles
# (2.14); matplotlib 3.10 (the newest for Python 3.10) bundles FreeType 2.6.1, which draws text
# differently (RMS 17-42 on text-heavy figures). That is rendering, not behaviour, so such a run
# skips the pixel comparisons and says why; the structural figure tests still run.
needs_baseline_freetype = pytest.mark.skipif(
    (_freetype_minor() or (0, 0)) < (2, 14),
    reason="PNG baselines are drawn with FreeType >= 2.14 (matplotlib >= 3.11); this matplotlib "
           "bundles an older FreeType that rasterises text differently",
)


# The tests check what the code draws and fits now: the report's cache of earlier runs (which
# would skip the drawing under test) is off for them and for the commands they run;
# tests/test_report_cache.py turns it on in its own folders.
import os  # noqa: E402

os.environ["METAANALYSIS_CACHE"] = "off"


# The slowest tests (about 600 of the suite's 900 seconds on a 2-core machine, measured with
# --durations=0) carry the mark `slow`: CI's oldest-versions pass leaves them out with `-m "not
# slow"` (the newest pass runs everything), so that CI stays within its time. Left out there are
# repetitions (whole reports built again and again, hypothesis properties, brute-force integrals,
# the slowest cases of a comparison whose fast cases stay); the oldest pass still builds the whole
# report once (`metaanalysis report`, .ci/run). A prefix names a file, a test or one parametrised case.
SLOW = (
    # each builds whole reports on the shipped table (10-40 s apiece)
    "tests/test_report.py", "tests/test_report_cache.py", "tests/test_report_figures.py",
    "tests/test_report_folder.py", "tests/test_report_parallel.py", "tests/test_report_curves.py",
    "tests/test_report_curves_pairing.py",
    # the round-trip grid of 300 reconstructions (15 s to set up)
    "tests/test_reconstruct_accuracy.py",
    "tests/test_bayes.py::test_brute_force",  # nested quadrature, 53 s
    "tests/test_bayes.py::test_location_and_scale_equivariance",
    "tests/test_bayes.py::test_permutation_invariance",
    "tests/test_selection.py::test_estimates_match_metafor[gen_sel_k25_power]",  # 12 s
    "tests/test_selection.py::test_estimates_match_metafor[gen_sel_k25_logistic]",  # 12 s
    "tests/test_selection.py::test_estimates_match_metafor[hackshaw_beta]",
    "tests/test_selection.py::test_estimates_match_metafor[hackshaw_halfnorm_prec]",
    "tests/test_selection.py::test_estimates_match_metafor[hackshaw_logistic]",
    "tests/test_selection.py::test_estimates_match_metafor[hackshaw_negexp_two_sided]",
    "tests/test_selection.py::test_estimates_match_metafor[bcg_beta]",
    "tests/test_glmm.py::test_matches_metafor[glmm_bcg_CM.EL_ML",  # both levels, 13 s
    "tests/test_glmm.py::test_matches_metafor[glmm_bcg_UM.RS_ML]",
    "tests/test_glmm.py::test_matches_metafor[glmm_nielweise2007_UM.RS_EE]",
    "tests/test_glmm.py::test_ml_optimum_is_at_least_as_good",
    "tests/test_permutation.py::test_permci_matches_metafor[bcg6_ablat_REML_z_permci]",  # 21 s
    "tests/test_permutation.py::test_exact_test_matches_metafor",
    "tests/test_permutation.py::test_random_mode",
    "tests/test_survival_models.py::test_agrees_with_lifelines_fitters",
    "tests/test_survival_models.py::test_row_order_does_not_matter",
    "tests/test_survival_models.py::test_simulation_recovers_gengamma",
    "tests/test_batch.py::test_agrees_with_pool_on_random_groupings",
    "tests/test_batch.py::test_chunking_gives_the_same_frame",
    "tests/test_batch.py::test_pool_many_fits_the_iterated_and_median_unbiased_estimators_as_pool",
    "tests/test_cli_analyses.py::test_network_bad_cell_and_bad_reference",
    "tests/test_cli_analyses.py::test_pool_counts_by_glmm_as_rma_glmm",
    "tests/test_cli_analyses.py::test_pool_extras_refuse_bad_requests_and_warn_on_few_studies",
    "tests/test_datasets.py::test_make_datasets_R_writes_the_shipped_files",
    "tests/test_distributed.py::test_default_local_cluster_of_worker_processes",
    "tests/test_exports.py::test_docx_holds_the_summary_of_findings",
    "tests/test_extreme_inputs.py::test_closed_form_estimators_are_scale_equivariant",
    "tests/test_extreme_inputs.py::test_pool_every_method_and_test_is_finite_or_names_the_study",  # 10 s
    "tests/test_extreme_inputs.py::test_pool_many_never_reports_a_nonfinite_fit_as_converged",
    "tests/test_fonts.py::test_eps_within_the_block",
    "tests/test_fonts.py::test_lean_subset_embeds_the_same_glyphs_as_matplotlib",
    "tests/test_forest_rob.py::test_primary_forest_has_a_cell_per_study_and_domain",
    "tests/test_onestage.py::test_uncertainty_shrinks_with_resolution",
    "tests/test_parser.py::test_a_cell_is_a_number_for_both_readers_or_an_error",
    "tests/test_ph.py::test_proportional_hazards_not_rejected_under_ph",
    "tests/test_ph.py::test_simulated_change_of_hr_is_found",
    "tests/test_plots_forest.py::test_no_text_overlaps",
    "tests/test_pooling_survival.py::test_qe_pooling_simulation_covers_truth",
    "tests/test_prisma.py::test_shipped_counts_add_up_to_the_table",
    "tests/test_quadform.py::test_always_a_probability_and_decreasing_in_q",
    "tests/test_quadform.py::test_scale_invariance",
    "tests/test_quadform.py::test_two_eigenvalues_by_integration",
    "tests/test_reconstruct.py::test_round_trip_simulated",
    "tests/test_review.py::test_a_single_median_in_weeks_is_reported_in_months",
    "tests/test_review.py::test_cli_report_with_an_edited_protocol",
    "tests/test_review.py::test_editing_the_protocol_changes_the_analyses",
    "tests/test_review.py::test_leave_one_out_runs_where_k_is_three_or_more",
    "tests/test_review.py::test_no_primary_analysis_pools_second_line_with_first_line",
    "tests/test_risk_of_bias.py::test_single_arm_studies_the_review_uses_are_assessed",
    "tests/test_simulate.py::test_notebook_runs_at_small_size",
    "tests/test_tau2_more.py::test_pool_matches_metafor",
    "tests/test_text_metrics.py::test_font_height_lookups_are_shared_and_files_unchanged",
    "tests/test_text_metrics.py::test_same_files_with_fewer_measurements",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


# Property tests draw their examples from a fixed seed and keep no example database, so that a
# failure reproduces on every machine and CI does not pass or fail by the luck of a draw;
# HYPOTHESIS_PROFILE=explore draws fresh examples each run, to look for new failures locally.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None)
_hypothesis_settings.register_profile("explore", database=None)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
