"""`python -m services.kubecost_sim`: run the simulator without the rest of the project's CLI."""

from __future__ import annotations

import argparse

from services.kubecost_sim.model import SimConfig
from services.kubecost_sim.server import run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.kubecost_sim",
        description="Serve deterministic Kubecost/OpenCost allocation and assets APIs. "
        "Cluster 0 answers at the root, cluster i under /clusters/{i}.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9003)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clusters", type=int, default=3)
    parser.add_argument("--workloads", type=int, default=40, help="workloads per cluster")
    parser.add_argument(
        "--fail-cluster",
        type=int,
        action="append",
        default=[],
        help="answer 500 for this cluster index (repeatable)",
    )
    parser.add_argument(
        "--cache-mb",
        type=int,
        default=0,
        help="keep up to this many MB of encoded hours to answer again (default: none)",
    )
    args = parser.parse_args(argv)
    run(
        args.host,
        args.port,
        SimConfig(
            seed=args.seed,
            clusters=args.clusters,
            workloads_per_cluster=args.workloads,
            fail_clusters=frozenset(args.fail_cluster),
        ),
        cache_bytes=args.cache_mb * 1024 * 1024,
    )


if __name__ == "__main__":
    main()
