"""The one native module (hulian/crypto/he/_batch.c); everything else is declared in pyproject.toml.

It compiles against gmpy2's C API header (shipped inside the gmpy2 package, hence gmpy2 in the build
requirements) and the system GMP (Debian's libgmp-dev)."""
from pathlib import Path

import gmpy2
from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "hulian.crypto.he._batch",
    sources=["hulian/crypto/he/_batch.c"],
    include_dirs=[str(Path(gmpy2.__file__).parent)],
    libraries=["gmp"],
    extra_compile_args=["-O2", "-pthread"],
    extra_link_args=["-pthread"],
)])
