"""The launcher's NCCL pre-flight: one all-reduce across this machine's GPUs, then exit.

Run by `tunetui.runner.distributed.check_collective` as
``python -m torch.distributed.run --standalone --nproc_per_node=N -m
tunetui.runner.train.collective`` under a timeout. Each rank adds its rank+1 into a tensor;
the sum must be N(N+1)/2 on every rank. Exit 0 on success, 1 with one line otherwise.
"""

from __future__ import annotations

import datetime
import os
import sys


def main() -> int:
    import torch
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    dist.init_process_group("nccl", timeout=datetime.timedelta(seconds=60))
    try:
        world = dist.get_world_size()
        value = torch.tensor([float(dist.get_rank() + 1)], device="cuda")
        dist.all_reduce(value)
        torch.cuda.synchronize()
        expected = world * (world + 1) / 2
        if value.item() != expected:
            print(f"all-reduce gave {value.item()}, expected {expected}", flush=True)
            return 1
        return 0
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
