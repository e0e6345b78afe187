"""Pin the BLAS and OpenMP thread pools before torch loads.

torch.set_num_threads does not reach Debian's OpenBLAS (libopenblas0-pthread):
its own pool keeps one thread per core, whose spinning doubled the CPU time of
a "1-thread" PyTorch run on 2 cores (UNet train step 223 -> 104 CPU ms when
pinned, at the same speed). Import this before torch.
"""
import os
import sys


def pin(default: int) -> None:
    argv = sys.argv
    n = argv[argv.index("--threads") + 1] if "--threads" in argv[:-1] else str(default)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = n
