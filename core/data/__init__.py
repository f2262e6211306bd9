"""Video datasets: layouts on disk → labelled video files, class names and a recorded train/test split.

Importing this package registers the built-in layouts: "folders", "ucf101", "hmdb51", "sports1m99",
"kinetics", "ucf11" (UCF YouTube Action, leave-one-group-out splits), "hollywood2" (multi-label: see
:attr:`Dataset.multilabel` and :attr:`VideoItem.labels`) and "youtube8m" (frame-level TFRecords whose
features come with the data: :attr:`Dataset.load_features`).
"""

from __future__ import annotations

from core.data import layouts as _layouts  # noqa: F401  (registers the built-in layouts)
from core.data import kinetics as _kinetics  # noqa: F401, E402
from core.data import ucf11 as _ucf11  # noqa: F401, E402
from core.data import hollywood2 as _hollywood2  # noqa: F401, E402
from core.data import yt8m_layout as _yt8m_layout  # noqa: F401, E402
from core.data.dataset import (
    VIDEO_EXTENSIONS,
    Dataset,
    LayoutRequest,
    VideoItem,
    abdn_split,
    layout_features,
    layout_names,
    load_dataset,
    register_layout,
)
from core.data.splits import (
    hmdb51_classes,
    parse_hmdb51_split,
    parse_ucf101_class_index,
    parse_ucf101_split,
)

__all__ = [
    "VIDEO_EXTENSIONS",
    "Dataset",
    "LayoutRequest",
    "VideoItem",
    "abdn_split",
    "hmdb51_classes",
    "layout_features",
    "layout_names",
    "load_dataset",
    "parse_hmdb51_split",
    "parse_ucf101_class_index",
    "parse_ucf101_split",
    "register_layout",
]
