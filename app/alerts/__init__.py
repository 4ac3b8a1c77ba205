"""Alerts without Alertmanager: per-camera rules from the cameras file (`rules`), checked every few seconds
(`sink`), each incident POSTed once, signed, to MASKWATCH_ALERT_WEBHOOK (`webhook`)."""
