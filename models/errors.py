"""The error every model loader raises for a backend or weights that cannot run here."""


class BackendError(RuntimeError):
    """A backend that cannot run here: not installed, not for this device, or a network it cannot load."""
