"""The native modules; everything else is declared in pyproject.toml.

- hulian/crypto/he/_batch.c, the HE engine's batch loops: compiles against gmpy2's C API header (shipped
  inside the gmpy2 package, hence gmpy2 in the build requirements) and the system GMP (Debian's libgmp-dev).
- hulian/crypto/ss/_ring.c, matrix products in Z_2^64: plain C (an AVX2 kernel chosen at run time)."""
from pathlib import Path

import gmpy2
from setuptools import Extension, setup

setup(ext_modules=[
    Extension(
        "hulian.crypto.he._batch",
        sources=["hulian/crypto/he/_batch.c"],
        libraries=["gmp"],
        # gmpy2's directory after the system's: gmpy2.h from it, but gmp.h (and mpfr.h where installed) from
        # the system, the headers of the GMP this module links
        extra_compile_args=["-O2", "-pthread", "-idirafter", str(Path(gmpy2.__file__).parent)],
        extra_link_args=["-pthread"],
    ),
    # no auto-vectorisation: the scalar kernel is faster than SSE2's emulated 64-bit lanes (the AVX2 kernel
    # is written with intrinsics)
    Extension("hulian.crypto.ss._ring", sources=["hulian/crypto/ss/_ring.c"],
              extra_compile_args=["-O3", "-fno-tree-vectorize"]),
])
