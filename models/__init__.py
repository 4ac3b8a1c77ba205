"""Everything inference needs, shared by `app` and `training`: the networks and their weights format, the
pipelines that run them (torch, or the exported OpenVINO files without torch), the choice of backend, and the
shipped weights in `weights/`."""
