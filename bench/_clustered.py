"""Generated passage and query vectors shaped like MiniLM embeddings of real QA data.

Encoding 1M passages with MiniLM takes ~9 hours on these 2 cores, so the scale benchmark feeds
generated vectors through the same build path (`--embeddings`). How they are made:
- `n // 20` cluster centres (about 20 passages per topic), unit vectors drawn from a Gaussian
  whose per-dimension scale decays as d^-0.3 (real embeddings are anisotropic);
- a passage = normalize(centre + 0.8 * that Gaussian / sqrt(dim));
- a query = normalize(its gold passage + 1.45 * that Gaussian / sqrt(dim)): queries sit far from
  their passages, as questions do from paragraphs.
The constants were fitted at 6,000 passages to all-MiniLM-L6-v2 on the first 6,000 passages of
the shared HotpotQA corpus and 1,000 of its questions. Real vs generated (bench/scale_real.py:
IVF{nlist},PQ96x4fs with the automatic settings, recall@10 retention against Flat at re-ranking
depth 100 and nprobe nlist/16, nlist/8, nlist/4, all lists; mean top-1 and rank-10 scores of
exact search, mean gap between ranks 10 and 100), real = HotpotQA + 2Wiki + MuSiQue in order:

                          real                                     generated
  passages nlist  nl/16  nl/8  nl/4   all top-1 top10   gap  nl/16  nl/8  nl/4   all   gap
     6,000   128  0.855 0.924 0.969 0.997 0.546 0.370 0.119  0.956 0.975 0.985 0.988 0.184
    12,000   256  0.903 0.950 0.981 0.996 0.643 0.405 0.120  0.957 0.968 0.971 0.979 0.166
    17,948   256  0.896 0.946 0.975 0.993 0.644 0.415 0.114  0.882 0.918 0.952 0.971 0.156
(generated top-1 / rank-10: 0.568 / 0.355 at every size)

Easier than real data at 6,000, harder by 17,948, and its retention falls with size where the
real one holds: even with every list probed (PQ + re-ranking alone) it loses 1-3% and more as it
grows, where real embeddings lose < 1%. So bench/scale.py's 1M recall is most likely a
pessimistic bound for real embeddings (inferred from these three sizes, not measured). A
hierarchy with n/20 topics (a tree of them) fell with size too; one whose topic count grows as
~n^0.4 held its retention, but no variant matched the real levels and trend together.
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
