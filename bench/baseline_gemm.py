#!/usr/bin/env python3
"""The baselines' matmul on the given shapes, timed like bench/gemm.ts: rounds of reps, median round.
usage: baseline_gemm.py numpy|torch-bf16 THREADS ROUNDS REPS < shapes.json   (shapes: [{name, m, n, k, op}])
numpy: float32 through its OpenBLAS. torch-bf16: bfloat16 through PyTorch 2.x (oneDNN: AMX tiles or
AVX512-BF16 where the CPU has them), with the interpreter of shared/baselines/setup-torch2.sh.
Prints one JSON object: {"kernel": OpenBLAS core name or torch version, "gflops": {name: median GFLOP/s}}."""
import ctypes, json, os, statistics, sys, time

lib = sys.argv[1]
threads, rounds, reps = (int(x) for x in sys.argv[2:5])
os.environ['OPENBLAS_NUM_THREADS'] = str(threads)  # before numpy loads OpenBLAS
import numpy as np


def kernel_family():
    for line in open('/proc/self/maps'):
        path = line.split()[-1]
        if 'openblas' not in path.lower():
            continue
        lib = ctypes.CDLL(path)
        for symbol in ('scipy_openblas_get_corename64_', 'scipy_openblas_get_corename', 'openblas_get_corename64_',
                       'openblas_get_corename'):
            fn = getattr(lib, symbol, None)
            if fn:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return 'unknown'


if lib == 'torch-bf16':
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    make = lambda rows, cols: torch.rand(rows, cols).to(torch.bfloat16)
    empty = lambda rows, cols: torch.empty(rows, cols, dtype=torch.bfloat16)
    matmul = lambda a, b, c: torch.matmul(a, b, out=c)
    kernel = f'torch {torch.__version__}'
else:
    rng = np.random.default_rng(1)
    make = lambda rows, cols: rng.random((rows, cols), dtype=np.float32)
    empty = lambda rows, cols: np.empty((rows, cols), dtype=np.float32)
    matmul = lambda a, b, c: np.matmul(a, b, out=c)
    kernel = None

result = {}
for s in json.load(sys.stdin):
    m, n, k, op = s['m'], s['n'], s['k'], s['op']
    a = make(k, m).T if op[0] == 'T' else make(m, k)
    b = make(n, k).T if op[1] == 'T' else make(k, n)
    c = empty(m, n)
    for _ in range(3):
        matmul(a, b, c)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            matmul(a, b, c)
        times.append((time.perf_counter() - t) / reps)
    result[s['name']] = 2 * m * n * k / statistics.median(times) / 1e9
print(json.dumps({'kernel': kernel or kernel_family(), 'gflops': result}))
