#!/usr/bin/env python3
"""torch.matmul in bfloat16 (PyTorch 2.x: oneDNN, AMX tiles or AVX512-BF16 where the CPU has them) on the
given shapes, timed like bench/gemm.ts and numpy_gemm.py: rounds of reps, median round.
usage: torch_gemm.py THREADS ROUNDS REPS < shapes.json   (shapes: [{name, m, n, k, op}])
Prints one JSON object: {"torch": version, "gflops": {name: median GFLOP/s}}."""
import json, statistics, sys, time

threads, rounds, reps = (int(x) for x in sys.argv[1:4])
import torch

torch.set_num_threads(threads)
torch.manual_seed(1)
result = {}
for s in json.load(sys.stdin):
    m, n, k, op = s['m'], s['n'], s['k'], s['op']
    a = torch.rand(k, m).to(torch.bfloat16).T if op[0] == 'T' else torch.rand(m, k).to(torch.bfloat16)
    b = torch.rand(n, k).to(torch.bfloat16).T if op[1] == 'T' else torch.rand(k, n).to(torch.bfloat16)
    c = torch.empty(m, n, dtype=torch.bfloat16)
    for _ in range(3):
        torch.matmul(a, b, out=c)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b, out=c)
        times.append((time.perf_counter() - t) / reps)
    result[s['name']] = 2 * m * n * k / statistics.median(times) / 1e9
print(json.dumps({'torch': torch.__version__, 'gflops': result}))
