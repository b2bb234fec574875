{
  # node-gyp build of the same sources as CMakeLists.txt (`npm run build:gyp`). Each instruction set's kernels
  # are a static library of their own, so only that file gets the -m flags.
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++1y", "-std=gnu++17"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-fPIC", "-O3", "-fno-math-errno", "-falign-loops=64"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"]
  },
  "targets": [
    {
      "target_name": "fastmlp",
      "sources": [
        "native/augment.cc",
        "native/binding.cc",
        "native/dispatch.cc",
        "native/elementwise.cc",
        "native/gemm.cc",
        "native/kernels_generic.cc",
        "native/pixels_json.cc",
        "native/threadpool.cc"
      ],
      "conditions": [
        ["target_arch == 'x64'", { "dependencies": ["fastmlp_kernels_avx2", "fastmlp_kernels_avx512", "fastmlp_augment_avx512", "fastmlp_kernels_avx512bf16", "fastmlp_kernels_amx"] }]
      ]
    },
    {
      "target_name": "fastmlp_kernels_avx2",
      "type": "static_library",
      "sources": ["native/kernels_avx2.cc"],
      "cflags_cc": ["-mavx2", "-mfma"]
    },
    {
      "target_name": "fastmlp_kernels_avx512",
      "type": "static_library",
      "sources": ["native/kernels_avx512.cc"],
      "cflags_cc": ["-mavx512f", "-mfma"]
    },
    {
      "target_name": "fastmlp_augment_avx512",
      "type": "static_library",
      "sources": ["native/augment_avx512.cc"],
      "cflags_cc": ["-mavx512f", "-ffp-contract=off"]
    },
    {
      "target_name": "fastmlp_kernels_avx512bf16",
      "type": "static_library",
      "sources": ["native/kernels_avx512bf16.cc"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-mfma"]
    },
    {
      "target_name": "fastmlp_kernels_amx",
      "type": "static_library",
      "sources": ["native/kernels_amx.cc"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-mfma", "-mamx-tile", "-mamx-bf16"]
    }
  ]
}
