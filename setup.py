"""Build pyvis._core from csrc/*.c against the NumPy C API and OpenBLAS.

OpenBLAS comes from the system when pkg-config finds it; otherwise from the scipy-openblas32
wheel, a build-time requirement only: its shared library is copied into the installed package
and found through an $ORIGIN rpath, as NumPy and SciPy do, so it is not a runtime dependency.
"""
import glob
import os
import shutil
import subprocess

import numpy
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def pkg_config_openblas():
    """(cflags, libs) of a system OpenBLAS, or None."""
    try:
        cflags = subprocess.run(["pkg-config", "--cflags", "openblas"], capture_output=True, text=True, check=True)
        libs = subprocess.run(["pkg-config", "--libs", "openblas"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return cflags.stdout.split(), libs.stdout.split()


def blas_settings():
    """Compile/link settings and the library file to vendor (None for a system OpenBLAS)."""
    if os.environ.get("PYVIS_BLAS", "") != "scipy-openblas32":
        found = pkg_config_openblas()
        if found:
            return {"extra_compile_args": found[0], "extra_link_args": found[1]}, None
    import scipy_openblas32

    lib_dir = scipy_openblas32.get_lib_dir()
    lib_name = scipy_openblas32.get_library()            # "scipy_openblas"
    lib_file = os.path.join(lib_dir, "lib%s.so" % lib_name)
    settings = {
        "include_dirs": [scipy_openblas32.get_include_dir()],
        "define_macros": [("PYVIS_SCIPY_OPENBLAS", "1")],
        "library_dirs": [lib_dir],
        "libraries": [lib_name],
        "extra_link_args": ["-Wl,-rpath,$ORIGIN"],
    }
    return settings, lib_file


def replace_file(source, target):
    """Copy by writing a temporary file and renaming it over the target: a process that has the
    old shared library mapped keeps its inode instead of dying with SIGBUS mid-rebuild."""
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    tmp = target + ".tmp-%d" % os.getpid()
    shutil.copy2(source, tmp)
    os.replace(tmp, target)


class BuildExtVendoringBlas(build_ext):
    """build_ext that also copies the wheel's OpenBLAS next to the extension, and installs
    in-place builds (pip install -e) by atomic rename."""

    def copy_file(self, infile, outfile, *args, **kwargs):
        if os.path.isdir(outfile):
            outfile = os.path.join(outfile, os.path.basename(infile))
        replace_file(infile, outfile)
        return outfile, 1

    def run(self):
        super().run()
        if VENDORED_LIB is None:
            return
        ext_path = self.get_ext_fullpath("pyvis._core")
        replace_file(VENDORED_LIB, os.path.join(os.path.dirname(ext_path), os.path.basename(VENDORED_LIB)))


BLAS, VENDORED_LIB = blas_settings()
sanitize = os.environ.get("PYVIS_SANITIZE", "") == "1"
# -fno-trapping-math: nothing here reads floating-point exception flags, and without it gcc
# will not turn selects over floats (max-pool routing, ReLU gates) into vector blends. It does
# not reorder arithmetic, so results are unchanged.
compile_args = ["-O3", "-fno-trapping-math", "-fopenmp", "-std=c11", "-Wall", "-Wno-unknown-pragmas"]
link_args = ["-fopenmp"]
if sanitize:
    compile_args = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fopenmp", "-std=c11"]
    link_args += ["-fsanitize=address,undefined"]

core = Extension(
    "pyvis._core",
    sources=sorted(glob.glob("csrc/*.c")),
    depends=sorted(glob.glob("csrc/*.h")),
    include_dirs=[numpy.get_include()] + BLAS.get("include_dirs", []),
    define_macros=[
        ("NPY_NO_DEPRECATED_API", "NPY_1_23_API_VERSION"),
        ("NPY_TARGET_VERSION", "NPY_1_23_API_VERSION"),
        ("_GNU_SOURCE", "1"),
    ]
    + BLAS.get("define_macros", []),
    library_dirs=BLAS.get("library_dirs", []),
    libraries=BLAS.get("libraries", []),
    extra_compile_args=compile_args + BLAS.get("extra_compile_args", []),
    extra_link_args=link_args + BLAS.get("extra_link_args", []),
)

setup(ext_modules=[core], cmdclass={"build_ext": BuildExtVendoringBlas})
