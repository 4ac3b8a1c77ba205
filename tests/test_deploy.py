"""No Docker engine runs here: check the compose file, the Dockerfile and the Prometheus config instead,
and scrape a real uvicorn server with a real Prometheus (Debian's `prometheus`, installed by .ci/run)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib

import httpx
import pytest
import yaml

from tests.conftest import ROOT, VOC_DIR, free_port

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
CPU_DOCKERFILE = (ROOT / "Dockerfile.cpu").read_text()


def test_gpu_service_reserves_an_nvidia_gpu_and_mounts_weights_read_only():
    gpu = COMPOSE["services"]["maskwatch"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "./models/weights:/models:ro" in gpu["volumes"]
    assert gpu["environment"]["MASKWATCH_MODEL_DIR"] == "/models"
    assert "/healthz" in " ".join(gpu["healthcheck"]["test"])


def test_containers_run_read_only_without_privileges_and_shut_down_gracefully():
    for name in ("maskwatch", "maskwatch-cpu"):
        service = COMPOSE["services"][name]
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"] and service["cap_drop"] == ["ALL"]
        assert "MASKWATCH_API_KEYS" in service["environment"]
    assert "HOME=/tmp" in DOCKERFILE and "--timeout-graceful-shutdown" in DOCKERFILE


def test_cpu_variant_has_no_gpu_and_prometheus_scrapes_the_service():
    cpu = COMPOSE["services"]["maskwatch-cpu"]
    assert "deploy" not in cpu and cpu["environment"]["MASKWATCH_DEVICE"] == "cpu"
    assert "maskwatch" in cpu["networks"]["default"]["aliases"]
    prom = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["maskwatch:8000"]


def test_dockerfile_pins_torch_runs_as_non_root_with_a_healthcheck():
    pins = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"] if d.startswith("torch")]
    assert all(pin in DOCKERFILE for pin in pins) and len(pins) == 2
    assert "\nUSER maskwatch" in DOCKERFILE and "HEALTHCHECK" in DOCKERFILE and "/healthz" in DOCKERFILE


def test_the_cpu_image_installs_no_torch_and_runs_the_export():
    cpu = COMPOSE["services"]["maskwatch-cpu"]
    assert cpu["build"]["dockerfile"] == "Dockerfile.cpu" and "./models/weights:/models:ro" in cpu["volumes"]
    assert "torch==" not in CPU_DOCKERFILE and "startswith(('torch', 'onnx'))" in CPU_DOCKERFILE
    assert "pip install --no-deps ." in CPU_DOCKERFILE and "\nUSER maskwatch" in CPU_DOCKERFILE and "/healthz" in CPU_DOCKERFILE
    assert (ROOT / "models" / "weights" / "openvino" / "export.json").is_file()  # what /models/openvino holds in the container
    packaged = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["models"]
    assert "weights/openvino/*" in packaged


def test_the_build_context_lets_in_every_packaged_folder():
    allowed = {line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")}
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in packages} | {"pyproject.toml", "README.md"} <= allowed


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (.ci/run installs Debian's prometheus)")
def test_promtool_accepts_the_prometheus_config():
    result = subprocess.run(["promtool", "check", "config", str(ROOT / "deploy" / "prometheus.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (.ci/run installs Debian's prometheus)")
def test_alert_rules_are_valid_and_fire_as_their_unit_tests_expect():
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        result = subprocess.run(["promtool", *command], cwd=ROOT / "deploy", capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert names == {"MaskWatchLowCompliance", "MaskWatchCameraDown", "MaskWatchCameraLagging", "MaskWatchOverloaded", "MaskWatchNotReady",
                     "MaskWatchDatabaseDown"}
    assert "./deploy/alerts.yml:/etc/prometheus/alerts.yml:ro" in COMPOSE["services"]["prometheus"]["volumes"]


def series_named(promql: str) -> set[str]:
    """The metric families a PromQL text names (maskwatch_* without _total, _bucket, _count; and `up`)."""
    return set(re.findall(r"\b(maskwatch_[a-z_]+?)(?:_total|_bucket|_count)?\b(?=[{\[ )])", promql)) | set(re.findall(r"\b(up)\{", promql))


def exposed_series() -> set[str]:
    from app import metrics

    return {m.name for m in metrics.REGISTRY.collect()} | {"up"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "maskwatch.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def test_alert_rules_name_only_series_the_service_exposes():
    named = series_named((ROOT / "deploy" / "alerts.yml").read_text())
    assert named and named <= exposed_series(), named - exposed_series()


def test_the_dashboard_shows_cameras_and_service_from_exposed_series():
    queries = dashboard_queries()
    named = set().union(*(series_named(q) for q in queries))
    assert named <= exposed_series(), named - exposed_series()
    assert {"maskwatch_camera_people", "maskwatch_camera_up", "maskwatch_camera_fps", "maskwatch_camera_lag_seconds",
            "maskwatch_request_duration_seconds", "maskwatch_errors", "maskwatch_batch_size", "maskwatch_stage_duration_seconds"} <= named
    grafana = COMPOSE["services"]["grafana"]
    assert "./deploy/grafana/maskwatch.json:/var/lib/grafana/dashboards/maskwatch.json:ro" in grafana["volumes"]


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed (.ci/run installs it)")
def test_a_real_prometheus_parses_every_dashboard_query(tmp_path):
    port = free_port()
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        for query in dashboard_queries():
            answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query.replace("$camera", ".*")}, timeout=5).json()
            assert answer["status"] == "success", (query, answer)
    finally:
        prom.terminate()
        prom.wait(timeout=20)


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed (.ci/run installs prometheus-alertmanager)")
def test_amtool_accepts_the_example_alertmanager_config():
    result = subprocess.run(["amtool", "check-config", str(ROOT / "deploy" / "alertmanager.example.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed (.ci/run installs it)")
def test_a_real_prometheus_scrapes_the_latency_histogram(server, tmp_path):
    base, port = server
    for _ in range(3):
        r = httpx.post(f"{base}/v1/classify", files={"image": ("f.png", (VOC_DIR / "images" / "maksssksksss44.png").read_bytes())}, timeout=30)
        assert r.status_code == 200
    prom_port = free_port()
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "maskwatch", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]}))
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    query = 'sum(maskwatch_request_duration_seconds_count{route="/v1/classify",method="POST",status_class="2xx"})'
    value = None
    try:
        for _ in range(60):
            try:
                result = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": query}, timeout=2).json()
                if result["data"]["result"]:
                    value = float(result["data"]["result"][0]["value"][1])
                    if value >= 3:
                        break
            except (httpx.TransportError, KeyError, ValueError):
                pass
            time.sleep(0.5)
    finally:
        prom.terminate()
        prom.wait(timeout=20)
    assert value is not None and value >= 3


def test_two_workers_report_their_metrics_together(tmp_path):
    port, shared = free_port(), tmp_path / "metrics"
    shared.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(shared), "MASKWATCH_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port), "--workers", "2"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        ready = 0
        for _ in range(600):  # both workers must be loaded: many ready answers in a row
            try:
                ready = ready + 1 if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 else 0
            except httpx.TransportError:
                ready = 0
            if ready >= 20:
                break
            time.sleep(0.1)
        image = (VOC_DIR / "images" / "maksssksksss44.png").read_bytes()
        for _ in range(6):  # a fresh connection each: they land on either worker
            assert httpx.post(f"{base}/v1/classify", files={"image": ("f.png", image)}, timeout=30).status_code == 200
        pids = {p.name.split("_")[-1] for p in shared.glob("*.db")}
        texts = [httpx.get(f"{base}/metrics", timeout=5).text for _ in range(6)]
    finally:
        proc.terminate()
        proc.wait(30)
    assert len(pids) >= 2  # both workers write there
    assert all("maskwatch_images_processed_total 6.0" in text for text in texts)
    assert all('maskwatch_model_info{backend=' in text for text in texts)


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed (.ci/run installs it)")
def test_debians_compose_reads_the_file_with_each_profile():
    for profile, device in (("gpu", "cuda"), ("cpu", "cpu")):
        result = subprocess.run(["docker-compose", "--profile", profile, "config"], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        service = services["maskwatch" if profile == "gpu" else "maskwatch-cpu"]
        assert service["environment"]["MASKWATCH_DEVICE"] == device and service["read_only"] is True
    assert services["maskwatch"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    url = "postgresql://maskwatch:maskwatch@postgres:5432/maskwatch"  # the postgres profile, as the compose file's header says
    result = subprocess.run(["docker-compose", "--profile", "cpu", "--profile", "postgres", "config"], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "MASKWATCH_DATABASE_URL": url})
    services = yaml.safe_load(result.stdout)["services"]
    assert services["postgres"]["image"].startswith("postgres:") and services["maskwatch-cpu"]["environment"]["MASKWATCH_DATABASE_URL"] == url
