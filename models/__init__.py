"""Network definitions, checkpoint format and inference wrappers shared by `app` and `training`."""
