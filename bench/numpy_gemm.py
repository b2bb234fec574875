#!/usr/bin/env python3
"""numpy matmul on the given shapes, timed like bench/gemm.ts: rounds of reps, median round.
usage: numpy_gemm.py THREADS ROUNDS REPS < shapes.json   (shapes: [{name, m, n, k, op}])
Prints one JSON object: {"kernel": OpenBLAS core name, "gflops": {name: median GFLOP/s}}."""
import ctypes, json, os, statistics, sys, time

threads, rounds, reps = (int(x) for x in sys.argv[1:4])
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


result = {}
rng = np.random.default_rng(1)
for s in json.load(sys.stdin):
    m, n, k, op = s['m'], s['n'], s['k'], s['op']
    a = rng.random((k, m), dtype=np.float32).T if op[0] == 'T' else rng.random((m, k), dtype=np.float32)
    b = rng.random((n, k), dtype=np.float32).T if op[1] == 'T' else rng.random((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    for _ in range(3):
        np.matmul(a, b, out=c)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        times.append((time.perf_counter() - t) / reps)
    result[s['name']] = 2 * m * n * k / statistics.median(times) / 1e9
print(json.dumps({'kernel': kernel_family(), 'gflops': result}))
