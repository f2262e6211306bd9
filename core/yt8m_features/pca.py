"""PCA with whitening, as google's ``feature_extractor`` takes Inception's 2,048 features to 1,024.

``y = (x − mean) · E / √(eigenvalues + 1e-4)``, keeping the first ``k`` components (1,024 for rgb,
128 for audio). The matrices come from a folder in the layout of google's ``yt8m_pca.tgz``:

- ``mean.npy``: (D, 1), the features' mean;
- ``eigenvals.npy``: (≥ k, 1), eigenvalues in decreasing order;
- ``eigenvecs.npy``: (≥ k, D), one eigenvector per *row* (google's loader transposes it and
  keeps the first k columns).

:class:`PcaSums` fits one from running sums (Σx and XᵀX in float64, so memory does not grow with
the data: 32 MB for 2,048 features), :func:`fit_pca` from an array, and :meth:`Pca.save` writes it
in that same layout, plus ``pca.json`` saying that avc fitted it and on what, so that a later run
loads a fitted PCA exactly as it loads google's — and can tell the two apart (:attr:`Pca.by_avc`).

Components beyond the rank of the training features (fewer seconds of training video than
components) are an arbitrary basis of the null space; whitening would multiply them by
1 / √1e-4 = 100. A fitted PCA zeroes those eigenvectors and eigenvalues, so those dimensions stay
at the mean: 0 after whitening, byte 128 after quantisation.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.atomic import atomic_write
from core.errors import ConfigError

EPSILON = 1e-4
FILES = ("mean.npy", "eigenvals.npy", "eigenvecs.npy")
INFO = "pca.json"
WRITER = "avc"  # pca.json's "writer" in the folders avc fits
RANK_TOLERANCE = 1e-10  # eigenvalues below this fraction of the largest count as 0
HINT = ("pass `avc data yt8m-records` --rgb-pca/--audio-pca a folder holding "
        f"{', '.join(FILES)} (google's yt8m_pca.tgz layout, or OUT/pca/... of an earlier run), "
        "or leave the option out to fit a PCA on the training videos")


@dataclass
class Pca:
    """A PCA of ``dims`` features to ``components``: mean (D,), eigenvalues (k,), eigenvectors as
    the columns of a (D, k) matrix."""

    mean: np.ndarray
    eigenvals: np.ndarray
    eigenvecs: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def dims(self) -> int:
        return int(self.eigenvecs.shape[0])

    @property
    def components(self) -> int:
        return int(self.eigenvecs.shape[1])

    @property
    def by_avc(self) -> bool:
        """Whether avc fitted this PCA (its folder holds avc's ``pca.json``)."""
        return self.info.get("writer") == WRITER

    def apply(self, features: np.ndarray) -> np.ndarray:
        """Return the float32 (n, k) whitened projections of (n, D) ``features``.

        Raises ``ConfigError`` when the features do not have D columns.
        """
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise ConfigError(f"a PCA of {self.dims} features cannot take features of shape "
                              f"{x.shape}", hint=HINT)
        projected = (x - self.mean) @ self.eigenvecs
        return (projected / np.sqrt(self.eigenvals + EPSILON)).astype(np.float32)

    def save(self, directory: str | Path) -> Path:
        """Write ``mean.npy``, ``eigenvals.npy``, ``eigenvecs.npy`` (google's layout) and
        ``pca.json`` into ``directory``, each atomically; returns the directory."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = (self.mean.reshape(-1, 1), self.eigenvals.reshape(-1, 1), self.eigenvecs.T)
        for name, array in zip(FILES, arrays):
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array, dtype=np.float32))
            atomic_write(directory / name, buffer.getvalue())
        info = {"writer": WRITER, "dims": self.dims, "components": self.components, **self.info}
        atomic_write(directory / INFO, json.dumps(info, indent=2) + "\n")
        return directory


def _load_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise ConfigError(f"PCA file {path} does not exist", hint=HINT)
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"PCA file {path} is not a NumPy array file: {exc}",
                          hint=HINT) from exc


def _column(array: np.ndarray, path: Path) -> np.ndarray:
    """(n, 1) or (n,) → (n,)."""
    if array.ndim == 2 and array.shape[1] == 1:
        return array[:, 0]
    if array.ndim == 1:
        return array
    raise ConfigError(f"PCA file {path} has shape {array.shape}, expected (n, 1)", hint=HINT)


def load_pca(directory: str | Path, components: int, *, dims: int | None = None) -> Pca:
    """Return the PCA stored in ``directory`` (google's layout), keeping ``components``.

    Raises ``ConfigError`` when a file is missing, unreadable, not finite, of a shape that does
    not fit the others or gives fewer than ``components`` components, or (given ``dims``) when it
    does not take ``dims`` features.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"PCA folder {directory} does not exist", hint=HINT)
    paths = [directory / name for name in FILES]
    mean_raw, vals_raw, vecs = (_load_array(path) for path in paths)
    mean, eigenvals = _column(mean_raw, paths[0]), _column(vals_raw, paths[1])
    if dims is not None and len(mean) != dims:
        raise ConfigError(f"the PCA in {directory} takes {len(mean)}-dimensional features "
                          f"({paths[0].name}), these are {dims}-dimensional", hint=HINT)
    dims = len(mean)
    if vecs.ndim != 2 or vecs.shape[1] != dims:
        raise ConfigError(f"PCA file {paths[2]} has shape {vecs.shape}, expected (components, "
                          f"{dims}) to fit the {dims} values of {paths[0].name}", hint=HINT)
    for path, count in ((paths[1], len(eigenvals)), (paths[2], vecs.shape[0])):
        if count < components:
            raise ConfigError(f"PCA file {path} holds {count} components, fewer than the "
                              f"{components} needed", hint=HINT)
    pca = Pca(mean=mean.astype(np.float64), eigenvals=eigenvals[:components].astype(np.float64),
              eigenvecs=vecs.T[:, :components].astype(np.float64))
    if not all(np.isfinite(a).all() for a in (pca.mean, pca.eigenvals, pca.eigenvecs)):
        raise ConfigError(f"the PCA in {directory} holds NaN or infinite values", hint=HINT)
    if (pca.eigenvals < -EPSILON).any():
        raise ConfigError(f"PCA file {paths[1]} holds negative eigenvalues", hint=HINT)
    info_path = directory / INFO
    if info_path.is_file():
        try:
            pca.info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            pca.info = {}
        if not isinstance(pca.info, dict):
            pca.info = {}
    pca.info = {**pca.info, "loaded_from": str(directory)}
    return pca


class PcaSums:
    """Running sums of (n, D) feature rows, enough to fit a PCA without keeping the rows.

    Holds ``Σ(x − s)`` and ``Σ(x − s)(x − s)ᵀ`` in float64 around a shift ``s`` (the mean of the
    first rows added), which keeps the covariance's cancellation error small when the features'
    mean is large against their spread; memory is D² float64 (32 MB for D = 2,048).
    """

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.count = 0
        self.videos = 0
        self._shift: np.ndarray | None = None
        self._sum = np.zeros(dims, dtype=np.float64)
        self._outer = np.zeros((dims, dims), dtype=np.float64)

    def add(self, rows: np.ndarray) -> PcaSums:
        """Add (n, D) ``rows`` (one video's); returns self."""
        x = np.asarray(rows, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dims:
            raise ConfigError(f"cannot add features of shape {x.shape} to a PCA of {self.dims}",
                              hint=HINT)
        if not len(x):
            return self
        if self._shift is None:
            self._shift = x.mean(axis=0)
        x = x - self._shift
        self._sum += x.sum(axis=0)
        self._outer += x.T @ x
        self.count += len(x)
        self.videos += 1
        return self

    def fit(self, components: int, **info) -> Pca:
        """Fit a PCA of ``components``: the mean, and the eigenvectors of the *sample* covariance
        (``(XᵀX − n·mean·meanᵀ) / (n − 1)``, as ``np.cov``) with the largest eigenvalues, computed
        in float64, each signed so that its largest entry is positive (the same features always
        give the same PCA). Components beyond the features' rank (at most n − 1) get a zero
        eigenvector and eigenvalue. ``info`` goes into ``pca.json`` with ``rank`` and
        ``fitted_on_seconds``.

        Raises ``ConfigError`` when there are fewer than 2 rows or fewer dimensions than
        components.
        """
        n = self.count
        if n < 2:
            raise ConfigError(f"fitting a PCA needs at least 2 seconds of training video, got {n}",
                              hint="add training videos, or pass `avc data yt8m-records` "
                                   "--rgb-pca/--audio-pca a PCA folder (an earlier run's)")
        if self.dims < components:
            raise ConfigError(f"cannot keep {components} components of {self.dims} features",
                              hint=HINT)
        centred_sum = self._sum / n
        covariance = (self._outer - n * np.outer(centred_sum, centred_sum)) / (n - 1)
        covariance = (covariance + covariance.T) / 2
        values, vectors = np.linalg.eigh(covariance)
        rank = min(int((values > max(values.max(), 0.0) * RANK_TOLERANCE).sum()), n - 1)
        order = np.argsort(values)[::-1][:components]
        values, vectors = np.clip(values[order], 0.0, None), vectors[:, order]
        peaks = vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])]
        vectors = vectors * np.where(peaks < 0, -1.0, 1.0)
        if rank < components:
            vectors[:, rank:] = 0.0
            values[rank:] = 0.0
        return Pca(mean=self._shift + centred_sum, eigenvals=values, eigenvecs=vectors,
                   info={"fitted_on_seconds": n, "rank": rank,
                         "covariance": "sample (divided by n - 1)", **info})


def fit_pca(features: np.ndarray, components: int, **info) -> Pca:
    """Fit a PCA of ``components`` to (n, D) ``features`` (see :meth:`PcaSums.fit`)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"fitting a PCA needs (seconds, features) rows, got shape {x.shape}",
                          hint=HINT)
    return PcaSums(x.shape[1]).add(x).fit(components, **info)
