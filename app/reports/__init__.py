"""Daily reports a manager reads: per camera (and zone, and line) the day's people by label and compliance, hour
by hour in the site's time zone, the alerts sent and the time down (`daily`), as JSON, CSV or a PDF page (`pdf`),
served at /v1/reports/daily (`api`)."""
