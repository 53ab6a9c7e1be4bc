"""Azure ML SDK v2 constants (``azure.ai.ml.constants``): the asset types and
input/output modes a pipeline written for Azure uses. Plain string constants,
so ``Input(type=AssetTypes.MLTABLE)`` and ``Input(type="mltable")`` are the
same. Imported by user pipeline code and by ``pjob.sdk.io``."""

from __future__ import annotations


class AssetTypes:
    """Types of data inputs and outputs."""

    URI_FILE = "uri_file"
    URI_FOLDER = "uri_folder"
    MLTABLE = "mltable"
    MLFLOW_MODEL = "mlflow_model"
    TRITON_MODEL = "triton_model"
    CUSTOM_MODEL = "custom_model"


class InputOutputModes:
    """How data reaches the script. pjob maps every mode to a local path or an
    fsspec read (docs/writing-jobs.md, "The job YAML, key by key")."""

    MOUNT = "mount"  # Azure's generic mount; pjob reads it as ro_mount (inputs) / rw_mount (outputs)
    RO_MOUNT = "ro_mount"
    RW_MOUNT = "rw_mount"
    DOWNLOAD = "download"
    UPLOAD = "upload"
    DIRECT = "direct"
    EVAL_MOUNT = "eval_mount"
    EVAL_DOWNLOAD = "eval_download"
