"""All-reduce time per training step of a model's gradients across 2 processes on loopback (Gloo),
the collective `ima train` runs once per step under torchrun (one bucket of flattened float32
gradients, as many elements as the model has parameters).
Usage: /usr/bin/python3 bench/allreduce_time.py PARAMETERS [REPEATS]"""
import os
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def worker(rank, parameters, repeats, port, queue):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    buffer = torch.randn(parameters)
    times = []
    for _ in range(repeats + 3):
        dist.barrier()
        start = time.perf_counter()
        dist.all_reduce(buffer)
        times.append(time.perf_counter() - start)
    if rank == 0:
        queue.put(times[3:])
    dist.destroy_process_group()


if __name__ == "__main__":
    parameters = int(sys.argv[1])
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with socket.socket() as s:  # a port nobody uses now (the machine may be shared)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").SimpleQueue()
    mp.spawn(worker, args=(parameters, repeats, port, queue), nprocs=2)
    times = queue.get()
    print(f"{parameters} float32 gradients ({parameters * 4 / 2**20:.1f} MiB): all-reduce median "
          f"{1000 * statistics.median(times):.2f} ms (min {1000 * min(times):.2f}, max {1000 * max(times):.2f}) "
          f"over {len(times)} steps")
