"""The Kubernetes manifests (deploy/k8s): every overlay renders with `kubectl kustomize`, every object is valid
against the Kubernetes 1.37 OpenAPI schemas (kubernetes-validate, offline), and the objects have what the
README promises: probes, a locked-down securityContext, resources, a PDB, an HPA on a metric /metrics exposes."""
import importlib.util
import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT

kubernetes_validate = pytest.importorskip("kubernetes_validate")
pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
K8S = ROOT / "deploy" / "k8s"
VERSION = "1.37.0"  # the newest release kubernetes-validate 1.37.0 has schemas for
CRDS = {"ScaledObject", "PodMonitor", "PrometheusRule"}  # checked by their operators, not here: no offline schema


def relative(path, start) -> str:
    return os.path.relpath(path, start)  # kustomize takes no absolute paths


def render(folder) -> list[dict]:
    result = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=["cpu", "gpu", "cpu+keda+monitoring"])
def objects(request, tmp_path_factory):
    if request.param == "cpu+keda+monitoring":
        folder = tmp_path_factory.mktemp("overlay")
        (folder / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": [relative(K8S / "overlays" / "cpu", folder)],
            "components": [relative(K8S / "components" / name, folder) for name in ("keda", "monitoring")]}))
        return request.param, render(folder)
    return request.param, render(K8S / "overlays" / request.param)


def by_kind(docs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def test_every_object_is_valid_kubernetes(objects):
    name, docs = objects
    unchecked = set()
    for doc in docs:
        if doc["kind"] in CRDS:
            unchecked.add(doc["kind"])
            continue
        kubernetes_validate.validate(doc, VERSION, strict=True)
    assert unchecked == (CRDS if "keda" in name else set())


def test_pods_are_probed_locked_down_and_bounded(objects):
    name, docs = objects
    kinds = by_kind(docs)
    workloads = kinds["Deployment"]
    assert {w["metadata"]["name"] for w in workloads} == {"maskwatch-api", "maskwatch-cameras"} and "StatefulSet" not in kinds
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > 30 and pod["securityContext"]["runAsNonRoot"]
        container = pod["containers"][0]
        assert container["startupProbe"]["httpGet"]["path"] == "/readyz" and container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"] and security["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "256Mi"}} in pod["volumes"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MASKWATCH_API_KEYS_FILE"] == "/secrets/keys.sha256"
        if name == "gpu":
            assert container["resources"]["limits"]["nvidia.com/gpu"] == 1 and env["MASKWATCH_PRECISION"] == "fp16"
            assert env["MASKWATCH_MODEL_PROCESS"] == "true" and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    api, cameras = sorted(kinds["Deployment"], key=lambda w: w["metadata"]["name"])
    api_env = {e["name"]: e for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert api_env["MASKWATCH_CAMERAS_ENABLED"]["value"] == "false" and api["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert kinds["PodDisruptionBudget"][0]["spec"]["minAvailable"] == 1
    # the cameras' pods share one database, named by a Secret, and keep nothing on a volume of their own
    camera_env = {e["name"]: e for e in cameras["spec"]["template"]["spec"]["containers"][0]["env"]}
    for env in (api_env, camera_env):
        assert env["MASKWATCH_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "maskwatch-database", "key": "url"}
    assert camera_env["MASKWATCH_REPLICA_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" and cameras["spec"]["replicas"] > 1
    assert not {"MASKWATCH_CAMERA_PEERS", "MASKWATCH_CAMERAS_DB"} & set(camera_env) and "volumeClaimTemplates" not in cameras["spec"]
    assert kinds["NetworkPolicy"][0]["spec"]["ingress"][0]["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_autoscaling_follows_a_metric_the_service_exposes(objects):
    from app import metrics

    name, docs = objects
    kinds = by_kind(docs)
    exposed = {m.name for m in metrics.REGISTRY.collect()}
    if "keda" in name:
        assert "HorizontalPodAutoscaler" not in kinds
        query = kinds["ScaledObject"][0]["spec"]["triggers"][0]["metadata"]["query"]
        assert "maskwatch_uploads_in_progress" in query
    else:
        (hpa,) = kinds["HorizontalPodAutoscaler"]
        assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] in exposed
    assert "maskwatch_uploads_in_progress" in exposed


def test_the_monitoring_component_carries_the_alert_rules_and_the_dashboard_unchanged(objects):
    name, docs = objects
    if "monitoring" not in name:
        return
    spec = importlib.util.spec_from_file_location("monitoring", K8S / "monitoring.py")
    monitoring = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(monitoring)
    for file, make in monitoring.OUTPUTS.items():  # written by the script from the one copy compose uses
        assert (K8S / "components" / "monitoring" / file).read_text() == make(), f"{file} is stale: python deploy/k8s/monitoring.py"
    kinds = by_kind(docs)
    assert kinds["PrometheusRule"][0]["spec"] == yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())
    dashboard = next(c for c in kinds["ConfigMap"] if c["metadata"]["name"] == "maskwatch-dashboard")
    assert json.loads(dashboard["data"]["maskwatch.json"]) == json.loads((ROOT / "deploy" / "grafana" / "maskwatch.json").read_text())
