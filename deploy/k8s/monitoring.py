"""Writes the Prometheus Operator's PrometheusRule and Grafana's dashboard ConfigMap for Kubernetes from the one
copy of each that compose uses, deploy/alerts.yml and deploy/grafana/maskwatch.json (kustomize reads no file outside
its folder). Run it after changing either; tests/test_k8s.py fails while the two disagree.

    python deploy/k8s/monitoring.py
"""
import json
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent.parent
OUT = DEPLOY / "k8s" / "components" / "monitoring"
HEADER = "# Written by deploy/k8s/monitoring.py from {source}: change that file, then rerun the script.\n"


def prometheus_rule() -> str:
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    rule = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "maskwatch"}, "spec": rules}
    return HEADER.format(source="deploy/alerts.yml") + yaml.safe_dump(rule, sort_keys=False, width=200)


def dashboard_config_map() -> str:
    dashboard = json.loads((DEPLOY / "grafana" / "maskwatch.json").read_text())
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "maskwatch-dashboard", "labels": {"grafana_dashboard": "1"}},  # Grafana's sidecar picks it up
                  "data": {"maskwatch.json": json.dumps(dashboard, indent=1)}}
    return HEADER.format(source="deploy/grafana/maskwatch.json") + yaml.safe_dump(config_map, sort_keys=False, width=200)


OUTPUTS = {"prometheus-rule.yaml": prometheus_rule, "grafana-dashboard.yaml": dashboard_config_map}


if __name__ == "__main__":
    for name, make in OUTPUTS.items():
        (OUT / name).write_text(make())
        print(f"wrote {OUT / name}")
