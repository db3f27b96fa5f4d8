"""deploy/kubernetes is valid Kubernetes (strict schemas, offline) and wired together: names, labels, probes.

`kubernetes-validate` (pinned in pyproject.toml) bundles the API server's OpenAPI schemas, so this needs no
cluster and no network. Strict mode refuses fields the schema does not know (a typo is an error).
"""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
import yaml

from stack.provisioning import runnable
from tests.services import ROOT
from tests.test_compose_file import python_modules

MANIFESTS = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests promise to work on (policy/v1 PDBs, batch/v1 Jobs are older still).
KUBERNETES_VERSION = "1.30.0"
EXAMPLE_SECRETS = "secrets.example.yaml"
SERVICES = ("luntrex-ingress", "luntrex-ledger", "luntrex-workers")


def documents(name: str) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all((MANIFESTS / name).read_text()) if document]


def resources() -> list[dict[str, Any]]:
    """Every resource kustomization.yaml applies."""
    listed = documents("kustomization.yaml")[0]["resources"]
    return [document for name in listed for document in documents(name)]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in resources() if item["kind"] == kind}


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    containers_: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers_


@pytest.mark.parametrize(
    "name", sorted(path.name for path in MANIFESTS.glob("*.yaml") if path.name != "kustomization.yaml")
)
def test_every_manifest_is_valid_against_the_strict_kubernetes_schema(name: str) -> None:
    for document in documents(name):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_refuses_a_broken_deployment() -> None:
    broken = copy.deepcopy(by_kind("Deployment")["luntrex-ledger"])
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    misspelt = copy.deepcopy(by_kind("Deployment")["luntrex-ledger"])
    containers(misspelt)[0]["readinesProbe"] = containers(misspelt)[0].pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(misspelt, KUBERNETES_VERSION, strict=True)


def test_kustomization_applies_every_manifest_but_the_example_secrets() -> None:
    listed = set(documents("kustomization.yaml")[0]["resources"])
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml", EXAMPLE_SECRETS}
    assert listed == on_disk


def test_each_service_runs_replicated_with_probes_resources_and_a_disruption_budget() -> None:
    deployments = by_kind("Deployment")
    budgets = by_kind("PodDisruptionBudget")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        assert deployment["spec"]["replicas"] >= 2, name
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(), name
        for container in containers(deployment):
            assert "readinessProbe" in container and "startupProbe" in container, name
            assert {"requests", "limits"} <= set(container["resources"]), name
            modules = python_modules(container["command"])
            assert modules and all(runnable(module) for module in modules), (name, container["command"])
        guarding = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()]
        assert len(guarding) == 1, f"{name} has {len(guarding)} disruption budgets"
        assert guarding[0]["spec"]["maxUnavailable"] == 1
    service = by_kind("Service")["luntrex-ingress"]
    ingress_labels = deployments["luntrex-ingress"]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= ingress_labels.items()


def test_every_config_and_secret_reference_names_something_defined() -> None:
    config_maps = by_kind("ConfigMap")
    secrets = {document["metadata"]["name"]: document for document in documents(EXAMPLE_SECRETS)}
    workloads = [*by_kind("Deployment").values(), *by_kind("Job").values()]
    for workload in workloads:
        for container in containers(workload):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
                else:
                    assert source["secretRef"]["name"] in secrets
            for variable in container.get("env", []):
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["key"] in secrets[reference["name"]]["stringData"], variable["name"]


def test_the_config_asks_for_three_replicas_and_two_in_sync() -> None:
    config = by_kind("ConfigMap")["luntrex-config"]["data"]
    assert (config["LUNTREX_KAFKA_REPLICATION_FACTOR"], config["LUNTREX_KAFKA_MIN_INSYNC_REPLICAS"]) == ("3", "2")
    assert len(config["LUNTREX_KAFKA_BOOTSTRAP_SERVERS"].split(",")) == 3
