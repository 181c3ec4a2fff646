"""Running a preprocessor chain over a dataset, with an on-disk content-addressed cache.

The key of a sample's entry is the SHA-256 of the chain (names, versions and
parameters) and of the bytes of every frame the chain reads, so a changed frame
or parameter gives a new entry and identical inputs are never recomputed.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from merbench.cache import cache_root, content_key, load_array, save_array
from merbench.contracts import Dataset, PreprocessorPlugin, Sample, resolve_factory
from merbench.errors import DataError


@dataclass
class PreprocessResult:
    """The model inputs of a whole dataset and what it took to make them."""

    inputs: np.ndarray
    computed: int
    cached: int
    seconds: float
    details: dict[str, Any]


@dataclass
class Chain:
    """Built preprocessors of a run, in order, with their specs."""

    specs: Sequence[PreprocessorPlugin]
    steps: Sequence[Any]

    @property
    def produces(self) -> str:
        """The representation the chain's last step produces."""
        return self.specs[-1].produces

    def signature(self) -> list[dict[str, Any]]:
        """What identifies the chain's output: names, versions and parameters."""
        return [
            {"name": spec.name, "version": spec.version, "params": step.cache_params()}
            for spec, step in zip(self.specs, self.steps)
        ]


def build_chain(specs: Sequence[PreprocessorPlugin], sections: dict[str, dict[str, Any]]) -> Chain:
    """Build each preprocessor of the chain from its resolved options."""
    steps = [resolve_factory(spec.build)(dict(sections[spec.name])) for spec in specs]
    return Chain(specs, steps)


def decode_frame(path: Path, blob: bytes) -> np.ndarray:
    """Decode an image file's bytes to a grey uint8 frame, or raise DataError naming it."""
    frame = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if frame is None:
        raise DataError(f"cannot decode frame {path}: the file is not a readable image; replace or remove it")
    return frame


def read_bytes(path: Path, sample: Sample) -> bytes:
    """Read one frame file of a sample, or raise DataError naming the file and sample."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"sample {sample.id}: cannot read frame {path} ({exc.strerror}); check the dataset tree") from None


def preprocess_sample(chain: Chain, sample: Sample, entry_dir: Path) -> tuple[np.ndarray, bool]:
    """The chain's output for one sample and whether it was computed (not cached)."""
    paths: list[Path] = []
    for step in chain.steps:
        paths.extend(p for p in step.inputs(sample) if p not in paths)
    blobs = {path: read_bytes(path, sample) for path in paths}
    key = content_key(chain.signature(), [hashlib.sha256(blob).hexdigest() for blob in blobs.values()])
    entry = entry_dir / key[:2] / f"{key}.npy"
    cached = load_array(entry)
    if cached is not None:
        return cached, False

    def read_frame(path: Path) -> np.ndarray:
        if path not in blobs:
            blobs[path] = read_bytes(path, sample)
        return decode_frame(path, blobs[path])

    output: np.ndarray | None = None
    for step in chain.steps:
        output = step(sample, read_frame, output)
    assert output is not None
    output = np.ascontiguousarray(output, dtype=np.float32)
    save_array(entry, output)
    return output, True


def preprocess_dataset(
    dataset: Dataset,
    chain: Chain,
    on_progress: Callable[[int], None] | None = None,
    cache_dir: Path | None = None,
) -> PreprocessResult:
    """Run the chain over every sample, reusing cached outputs."""
    entry_dir = (cache_dir or cache_root()) / "preprocess"
    start = time.perf_counter()
    outputs: list[np.ndarray] = []
    computed = 0
    for sample in dataset.samples:
        output, was_computed = preprocess_sample(chain, sample, entry_dir)
        if outputs and output.shape != outputs[0].shape:
            raise DataError(
                f"sample {sample.id}: preprocessed shape {output.shape} differs from {outputs[0].shape}; "
                "the chain must produce one size for every clip"
            )
        outputs.append(output)
        computed += was_computed
        if on_progress:
            on_progress(1)
    details = {"chain": chain.signature()}
    for step in chain.steps:
        if hasattr(step, "run_details"):
            details.update(step.run_details(dataset.samples))
    return PreprocessResult(
        inputs=np.stack(outputs),
        computed=computed,
        cached=len(outputs) - computed,
        seconds=time.perf_counter() - start,
        details=details,
    )
