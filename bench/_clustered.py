"""Generated passage and query vectors shaped like MiniLM embeddings of real QA data.

Encoding 1M passages with MiniLM takes hours on 2 CPU cores, so the scale benchmark feeds
generated vectors through the same build path (`--embeddings`). How they are made:
- `n // 20` cluster centres (about 20 passages per topic), unit vectors drawn from a Gaussian
  whose per-dimension scale decays as d^-0.3 (real embeddings are anisotropic);
- a passage = normalize(centre + 0.8 * that Gaussian / sqrt(dim));
- a query = normalize(its gold passage + 1.45 * that Gaussian / sqrt(dim)): queries sit far from
  their passages, as questions do from paragraphs.
The constants were fitted at 6,000 passages to all-MiniLM-L6-v2 on the first 6,000 passages of
the shared HotpotQA corpus and 1,000 of its questions. How generated and real vectors compare
at 6,000, 12,000 and 17,948 passages (bench/scale_real.py measures it; docs/performance.md,
"Retrieval at scale", has the table): easier than real data at the smallest size, harder at
the largest, and its retention falls with size where the real one holds, so bench/scale.py's
1M recall is a pessimistic bound for real embeddings, not a forecast.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

PASSAGE_SPREAD, QUERY_SPREAD, DECAY, PER_CLUSTER = 0.8, 1.45, 0.3, 20
CHUNK = 100_000


class Clustered:
    """Deterministic generator: `chunks()` yields the passages in row order, `queries()` the
    queries (one per sampled gold row) after the passages were generated."""

    def __init__(self, n: int, dim: int, n_queries: int, seed: int = 0):
        self.n, self.dim = n, dim
        rng = np.random.default_rng(seed)
        scale = np.arange(1, dim + 1, dtype=np.float32) ** -DECAY
        self.scale = scale / np.sqrt((scale**2).mean()) / np.sqrt(dim)
        centres = rng.standard_normal((max(1, n // PER_CLUSTER), dim)).astype(np.float32)
        centres *= self.scale
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.gold = np.sort(rng.choice(n, size=n_queries, replace=False))
        self._seed = seed
        self._gold_vectors = np.empty((n_queries, dim), dtype=np.float32)

    def chunks(self) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(self._seed + 1)
        for start in range(0, self.n, CHUNK):
            m = min(CHUNK, self.n - start)
            label = rng.integers(0, len(self.centres), m)
            noise = rng.standard_normal((m, self.dim)).astype(np.float32) * self.scale
            x = self.centres[label] + PASSAGE_SPREAD * noise
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            lo, hi = np.searchsorted(self.gold, [start, start + m])
            self._gold_vectors[lo:hi] = x[self.gold[lo:hi] - start]
            yield x

    def queries(self) -> np.ndarray:
        rng = np.random.default_rng(self._seed + 2)
        noise = rng.standard_normal(self._gold_vectors.shape).astype(np.float32) * self.scale
        q = self._gold_vectors + QUERY_SPREAD * noise
        return q / np.linalg.norm(q, axis=1, keepdims=True)
