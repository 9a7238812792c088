"""Settings of `agentic-rag index serve --ray`, importable (for --help) without the ray extra."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RayConfig:
    """Topology and resources of the Ray Serve service (every field is an `index serve` flag)."""

    shards: int = field(
        default=1, metadata={"help": "index shards, one deployment each (split on first use)"}
    )
    replicas: int = field(default=1, metadata={"help": "replicas of every shard deployment"})
    address: str | None = field(
        default=None,
        metadata={
            "help": "Ray cluster to join (ray://host:10001 or host:6379; default: start a local "
            "instance). DIR must be readable at the same path on every node"
        },
    )
    encoder_replicas: int = field(default=1, metadata={"help": "query-encoder replicas"})
    encoder_cpus: float = field(default=1.0, metadata={"help": "CPUs reserved per encoder replica"})
    encoder_gpus: float = field(default=0.0, metadata={"help": "GPUs reserved per encoder replica"})
    shard_cpus: float = field(default=0.5, metadata={"help": "CPUs reserved per shard replica"})

    def __post_init__(self) -> None:
        if min(self.shards, self.replicas, self.encoder_replicas) < 1:
            raise ValueError("--shards, --replicas and --encoder-replicas must be >= 1")
        if min(self.encoder_cpus, self.encoder_gpus, self.shard_cpus) < 0:
            raise ValueError("--encoder-cpus, --encoder-gpus and --shard-cpus must be >= 0")

    def cpus_needed(self) -> float:
        return self.encoder_replicas * self.encoder_cpus + self.shards * self.replicas * (
            self.shard_cpus
        )
