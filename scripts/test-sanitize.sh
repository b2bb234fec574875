#!/usr/bin/env bash
# Runs the native kernel, boundary and property tests against a build with AddressSanitizer and UndefinedBehaviorSanitizer:
# any out-of-bounds read or write, or undefined behaviour, in the addon fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
npx cmake-js compile --CDFASTMLP_SANITIZE=ON --out build-sanitize
# Node itself is not instrumented, so the sanitizer runtimes are preloaded into it.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export FASTMLP_ADDON="$PWD/build-sanitize/Release/fastmlp.node"
npx vitest run test/native "$@"
