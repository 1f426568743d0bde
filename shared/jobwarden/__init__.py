"""jobwarden: know why a Kubernetes Job failed and do something about it.

The shared package every function, the exporter and the local stack stand on.
Nothing heavy happens at import time: submodules import their own dependencies.
"""

__version__ = "0.1.0"
