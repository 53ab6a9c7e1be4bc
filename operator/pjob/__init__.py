"""pjob: run Azure ML-style parallel jobs locally and on Kubernetes.

Packages, in import order (each imports only those below it):
``cli``/``sdk`` -> ``local``/``kube`` -> ``coord`` -> ``engine`` -> ``data`` -> ``spec``.
"""

__version__ = "0.1.0"
