"""Report freshness out of the box: after a backfill of dose partitions the report_freshness sensor
(running by default) requests the whole-warehouse reports once, with no manual run."""

from __future__ import annotations

import dagster as dg

from assets.dose import ct_dose_events, effective_dose, study_dose
from assets.reports import REPORT_FRESHNESS, drl_audit, local_drl, patient_cumulative_dose
from orchestration.freshness import report_freshness
from orchestration.sensors import ALL_SENSORS

REPORTS = {"drl_audit", "local_drl", "patient_cumulative_dose"}
BACKFILL = ["2026-11-09", "2026-11-10", "2026-11-11"]


def _defs(*reports: dg.AssetsDefinition) -> dg.Definitions:
    # Evaluating conditions runs nothing: the resources are only declared.
    return dg.Definitions(
        assets=[ct_dose_events, study_dose, effective_dose, *reports],
        resources={"dose": dg.ResourceDefinition.none_resource()},
    )


def _keys(result: dg.EvaluateAutomationConditionsResult) -> set[str]:
    return {r.key.to_user_string() for r in result.results if r.true_subset.size}


def _materialize(instance: dg.DagsterInstance, key: str, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def test_the_sensor_runs_by_default_and_targets_every_report() -> None:
    assert report_freshness in ALL_SENSORS
    assert report_freshness.default_status == dg.DefaultSensorStatus.RUNNING
    defs = _defs(drl_audit, local_drl, patient_cumulative_dose)
    graph = defs.resolve_asset_graph()
    targeted = {k.to_user_string() for k in report_freshness.asset_selection.resolve(graph)}
    assert targeted == REPORTS
    for asset in (drl_audit, local_drl, patient_cumulative_dose):
        assert asset.automation_conditions_by_key[asset.key] == REPORT_FRESHNESS


def test_reports_are_requested_once_after_a_backfill() -> None:
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(drl_audit, local_drl, patient_cumulative_dose)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    for key in REPORTS:  # the reports as the demo or an earlier run left them
        _materialize(instance, key)
    quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert _keys(quiet) == set()  # nothing upstream changed
    for partition in BACKFILL:  # the backfill of three study dates
        for key in ("ct_dose_events", "study_dose", "effective_dose"):
            _materialize(instance, key, partition)
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert _keys(after) == REPORTS
    for key in REPORTS:
        _materialize(instance, key)
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after.cursor)
    assert _keys(again) == set()  # once per update, not on every tick


def test_dagster_eager_alone_would_leave_the_reports_stale() -> None:
    # Why REPORT_FRESHNESS is not eager(): with daily partitions from the site's start date most
    # upstream partitions are missing, and eager() waits for none to be missing.
    eager_report = dg.asset(
        name="eager_report", deps=[study_dose], automation_condition=dg.AutomationCondition.eager()
    )(lambda: None)
    instance = dg.DagsterInstance.ephemeral()
    defs = _defs(eager_report)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    _materialize(instance, "eager_report")
    for partition in BACKFILL:
        _materialize(instance, "study_dose", partition)
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert "eager_report" not in _keys(after)


def test_instance_templates_keep_automation_sensors_on() -> None:
    import yaml

    from orchestration.demo import INSTANCE_TEMPLATE

    for template in (INSTANCE_TEMPLATE, INSTANCE_TEMPLATE.with_name("dagster-postgres.yaml")):
        settings = yaml.safe_load(template.read_text())
        assert settings["auto_materialize"]["use_sensors"] is True, template.name
