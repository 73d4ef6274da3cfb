"""The Kubernetes path, reviewed as YAML: Dagster's chart values, the shared storage and site file, the
listener Deployment and Service. Debian ships no helm, so ``helm template`` is not run here; the
values are checked against what the project's code and site file need."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.executors import EXECUTOR_ENV_VAR, ExecutorSettingError, project_executor
from resources.site_config import parse_site_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SECRET_VARIABLES = {"DICOM_LAKE_SECRET_KEY", "DICOM_LAKE_WAREHOUSE_URL", "DICOM_LAKE_VAULT_KEY"}
SECRETS = "dicom-lake-secrets"
CLAIM = "dicom-lake-data"


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if d]


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in _documents(path.name):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


def _mounts(volumes: list[dict[str, Any]], mounts: list[dict[str, Any]]) -> dict[str, str]:
    """Mount path of each claim or ConfigMap, for one pod."""
    by_name = {v["name"]: v for v in volumes}
    paths: dict[str, str] = {}
    for mount in mounts:
        volume = by_name[mount["name"]]
        source = volume.get("persistentVolumeClaim", {}).get("claimName") or volume["configMap"]["name"]
        paths[source] = mount["mountPath"]
    return paths


def _site(manifests: dict[str, dict[str, Any]]) -> Any:
    text = manifests["ConfigMap/dicom-lake-site"]["data"]["dicom-lake.yaml"]
    return parse_site_config(yaml.safe_load(text), source="dicom-lake-site", base_dir=Path("/"))


def test_runs_and_steps_are_kubernetes_jobs_of_the_project_code(values: dict[str, Any]) -> None:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    module = importlib.import_module(args[args.index("-m") + 1])
    assert hasattr(module, args[args.index("-a") + 1])
    env = {e["name"]: e.get("value") for e in deployment["env"]}
    assert env[EXECUTOR_ENV_VAR] == "k8s"
    assert deployment["image"]["tag"] not in {"latest", ""}, "every step of a run must get the same image"
    daemon = values["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runMonitoring"]["enabled"] and daemon["runRetries"]["maxRetries"] >= 1
    assert values["concurrency"]["pools"] == {"defaultLimit": 1, "granularity": "op"}
    assert not values["postgresql"]["enabled"] and not values["generatePostgresqlPasswordSecret"]
    assert values["global"]["postgresqlSecretName"]


def test_every_pod_shares_the_data_claim_and_site_file_at_the_same_paths(
    values: dict[str, Any], manifests: dict[str, dict[str, Any]]
) -> None:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    pod = manifests["Deployment/dicom-lake-listener"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    views = [
        _mounts(deployment["volumes"], deployment["volumeMounts"]),
        _mounts(launcher["volumes"], launcher["volumeMounts"]),
        _mounts(pod["volumes"], container["volumeMounts"]),
    ]
    assert all(view == views[0] for view in views), views
    assert manifests[f"PersistentVolumeClaim/{CLAIM}"]["spec"]["accessModes"] == ["ReadWriteMany"]
    site = _site(manifests)
    data = Path(views[0][CLAIM])
    for zone in (site.paths.spool, site.paths.research, site.paths.quarantine):
        assert data in zone.parents, f"{zone} is not on the shared claim"
    config_path = Path({e["name"]: e.get("value") for e in deployment["env"]}["DICOM_LAKE_CONFIG"])
    assert config_path.parent == Path(views[0]["dicom-lake-site"])
    # No C-MOVE into step pods: they have no address the PACS could reach.
    assert site.pacs.retrieve_method == "get"


def test_secrets_come_only_from_kubernetes_secrets(
    values: dict[str, Any], manifests: dict[str, dict[str, Any]]
) -> None:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert {"name": SECRETS} in deployment["envSecrets"]
    assert {"name": SECRETS} in values["runLauncher"]["config"]["k8sRunLauncher"]["envSecrets"]
    (container,) = manifests["Deployment/dicom-lake-listener"]["spec"]["template"]["spec"]["containers"]
    listener_env = {e["name"]: e for e in container["env"]}
    assert listener_env["DICOM_LAKE_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == SECRETS
    literal = {e["name"] for e in deployment["env"] + container["env"] if "value" in e}
    assert not literal & SECRET_VARIABLES
    texts = [(DEPLOY / "helm" / "values.yaml").read_text()]
    texts += [p.read_text() for p in (DEPLOY / "kubernetes").glob("*.yaml")]
    assert not any("password:" in text.lower() for text in texts), "no password in a manifest"


def test_the_listener_service_reaches_the_listener_port(manifests: dict[str, dict[str, Any]]) -> None:
    deployment = manifests["Deployment/dicom-lake-listener"]
    service = manifests["Service/dicom-lake-listener"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"][:2] == ["dicom-lake", "listen"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = service["spec"]["ports"]
    site = _site(manifests)
    assert ports[service_port["targetPort"]] == site.listener.port == service_port["port"]
    assert site.listener.bind_address == "0.0.0.0"
    assert container["livenessProbe"]["exec"]["command"] == ["dicom-lake", "health"]


def test_the_k8s_executor_names_its_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXECUTOR_ENV_VAR, "k8s")
    try:
        import dagster_k8s  # noqa: F401
    except ImportError:
        with pytest.raises(ExecutorSettingError, match="dagster-k8s"):
            project_executor()
    else:
        executor = project_executor()
        assert executor is not None and executor.name == "k8s"
