"""deploy/kubernetes: valid against the Kubernetes API schemas (shipped by the
kubernetes-validate package, so offline) and consistent with the service they deploy."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds_service.security import check_startup_safety
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported upstream when written


def _documents() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document
    return found


DOCUMENTS = _documents()


def _container(kind: str) -> dict[str, Any]:
    [container] = DOCUMENTS[kind]["spec"]["template"]["spec"]["containers"]
    return container


def test_every_resource_the_deployment_needs_is_there() -> None:
    assert set(DOCUMENTS) == {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Job",
        "PodDisruptionBudget",
        "Secret",
        "Service",
    }


@pytest.mark.parametrize("kind", sorted(DOCUMENTS))
@pytest.mark.parametrize("version", [KUBERNETES_VERSION, kubernetes_validate.latest_version()])
def test_manifest_is_valid_for_kubernetes(kind: str, version: str) -> None:
    kubernetes_validate.validate(DOCUMENTS[kind], version, strict=True)


def test_the_validation_catches_a_mistake() -> None:
    broken = copy.deepcopy(DOCUMENTS["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_probes_are_the_service_health_endpoints() -> None:
    container = _container("Deployment")
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    [port] = container["ports"]
    assert port["containerPort"] == 8080  # the Dockerfile's gunicorn bind
    assert DOCUMENTS["Service"]["spec"]["ports"][0]["targetPort"] == port["name"]


def test_selectors_find_the_service_pods() -> None:
    labels = DOCUMENTS["Deployment"]["spec"]["template"]["metadata"]["labels"]
    for selector in (
        DOCUMENTS["Deployment"]["spec"]["selector"]["matchLabels"],
        DOCUMENTS["Service"]["spec"]["selector"],
        DOCUMENTS["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    # The migration Job's pods must not receive traffic.
    job_labels = DOCUMENTS["Job"]["spec"]["template"]["metadata"]["labels"]
    assert not DOCUMENTS["Service"]["spec"]["selector"].items() <= job_labels.items()
    target = DOCUMENTS["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        DOCUMENTS["Deployment"]["metadata"]["name"],
    )


def test_migration_job_runs_db_upgrade_with_the_same_image_and_database() -> None:
    job, service = _container("Job"), _container("Deployment")
    assert job["command"] == ["osteopenia-cds", "db", "upgrade"]
    assert job["image"] == service["image"]
    assert job["envFrom"] == service["envFrom"]
    secret = DOCUMENTS["Secret"]
    assert [e["secretRef"]["name"] for e in job["envFrom"]] == [secret["metadata"]["name"]]
    assert set(secret["stringData"]) == {"DATABASE_URL"}


def test_the_service_starts_with_this_configuration(tmp_path: Path) -> None:
    """The Deployment's environment and the ConfigMap's issuers file pass the service's own
    start-up checks, in production."""
    container = _container("Deployment")
    env = {e["name"]: e["value"] for e in container["env"]}
    env["DATABASE_URL"] = DOCUMENTS["Secret"]["stringData"]["DATABASE_URL"]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == "trusted-issuers"]
    configmap = DOCUMENTS["ConfigMap"]
    [(file_name, content)] = configmap["data"].items()
    assert env["CDS_TRUSTED_ISSUERS_FILE"] == f"{mount['mountPath']}/{file_name}"
    issuers = tmp_path / file_name
    issuers.write_text(content)
    env["CDS_TRUSTED_ISSUERS_FILE"] = str(issuers)
    settings = Settings.from_env(env)
    assert settings.production
    registry = check_startup_safety(settings, "0.0.0.0")  # the image binds every interface
    assert registry is not None and len(registry) == 1
    volumes = {v["name"]: v for v in DOCUMENTS["Deployment"]["spec"]["template"]["spec"]["volumes"]}
    assert volumes["trusted-issuers"]["configMap"]["name"] == configmap["metadata"]["name"]
