"""Data-parallel training under `torchrun`: one process per device, gradients averaged by DDP.

Run as a single process nothing here does anything. Under torchrun (WORLD_SIZE > 1) each process
trains on its own shard of every batch; rank 0 alone writes logs, grids and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass
class Process:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def start(device: str) -> Process:
    """Pick the device ("auto": CUDA when present) and join the process group when under torchrun."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch sees no CUDA device (is this a CPU build of torch?)")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Process(torch.device("cuda" if use_cuda else "cpu"))
    local_rank = int(os.environ["LOCAL_RANK"])
    chosen = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(chosen)
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return Process(chosen, dist.get_rank(), dist.get_world_size())


def wrap(module: nn.Module, process: Process) -> nn.Module:
    """DDP around the module when there are several processes; the module itself otherwise."""
    if process.world_size == 1:
        return module
    return DistributedDataParallel(module, device_ids=[process.device] if process.device.type == "cuda" else None)


def replicas_identical(module: nn.Module) -> bool:
    """Whether every process holds rank 0's parameters exactly (a check that DDP did its job)."""
    same = torch.ones((), device=next(module.parameters()).device)
    for parameter in module.parameters():
        reference = parameter.detach().clone()
        dist.broadcast(reference, src=0)
        same *= float(torch.equal(reference, parameter.detach()))
    dist.all_reduce(same, op=dist.ReduceOp.MIN)
    return bool(same.item())


def stop(wait_for_peers: bool = False) -> None:
    """End the process group. After a run that finished on every process, wait for the others first: a
    process that tears gloo down while a peer still talks to it can abort at exit ("terminate called
    without an active exception"). After a failure, do not wait: the peers may never arrive."""
    if dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()
