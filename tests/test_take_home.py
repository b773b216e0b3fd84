"""The generated C in someone else's firmware: OUTDIR's CMakeLists.txt and pixmcu.mk build it for the M4."""

import subprocess

import pytest

from conftest import require_tool

M4 = "-mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard -mthumb"
MAIN = """
#include <stdint.h>
#include "pm_model.h"
static int8_t in[PM_MODEL_INPUT_BYTES], out[PM_MODEL_OUTPUT_BYTES];
int main(void) { return pm_model_init() || pm_model_invoke(in, out); }
"""


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    from pixmcu.codegen import generate

    out = tmp_path_factory.mktemp("take_home") / "model"
    # The pixel-embedding model: a fused first layer from firmware/first_layer as well as kernels.
    generate("cifar10-pe-w4a4", out, board="qemu-m4", first_layer="auto")
    return out


def _link(lib_or_objs: list[str], include_dirs: list[str], tmp_path) -> None:
    """Link a program calling the model: any kernel or hook the library lacks is an undefined symbol."""
    main = tmp_path / "main.c"
    main.write_text(MAIN)
    subprocess.run(["arm-none-eabi-gcc", *M4.split(), *(f"-I{d}" for d in include_dirs), str(main), *lib_or_objs,
                    "--specs=nosys.specs", "--specs=nano.specs", "-Wl,--gc-sections", "-o", str(tmp_path / "app.elf")],
                   check=True, capture_output=True, text=True)


def test_cmake_builds_a_static_library_for_the_m4(outdir, tmp_path):
    cmake = require_tool("cmake")
    build = tmp_path / "build"
    subprocess.run([cmake, "-S", str(outdir), "-B", str(build), "-DCMAKE_SYSTEM_NAME=Generic",
                    "-DCMAKE_C_COMPILER=arm-none-eabi-gcc", f"-DCMAKE_C_FLAGS={M4} -Wall -Wextra -Werror",
                    "-DCMAKE_TRY_COMPILE_TARGET_TYPE=STATIC_LIBRARY"], check=True, capture_output=True, text=True)
    proc = subprocess.run([cmake, "--build", str(build), "-j", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lib = build / "libcifar10_pe_w4a4.a"
    syms = subprocess.run(["arm-none-eabi-nm", "--defined-only", str(lib)], check=True, capture_output=True,
                          text=True).stdout
    assert " T pm_model_invoke" in syms and " T pm_first_folded_s16" in syms and " T pm_hook_layer_end" in syms
    _link([str(lib)], [str(outdir)], tmp_path)


def test_makefile_fragment_builds_the_same_sources(outdir, tmp_path):
    make = require_tool("make")
    (tmp_path / "Makefile").write_text(
        f"include {outdir}/pixmcu.mk\n"
        "OBJS := $(patsubst %.c,objs/%.o,$(notdir $(CIFAR10_PE_W4A4_SRCS)))\n"
        "vpath %.c $(sort $(dir $(CIFAR10_PE_W4A4_SRCS)))\n"
        "all: $(OBJS)\n"
        "objs/%.o: %.c\n"
        "\t@mkdir -p objs\n"
        "\tarm-none-eabi-gcc $(CIFAR10_PE_W4A4_CPU_FLAGS) $(CIFAR10_PE_W4A4_CFLAGS) -Wall -Wextra -Werror $(CIFAR10_PE_W4A4_INCLUDES) "
        "-c $< -o $@\n")
    proc = subprocess.run([make, "-C", str(tmp_path), "-j", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    objs = sorted(str(p) for p in (tmp_path / "objs").glob("*.o"))
    assert len(objs) >= 7
    _link(objs, [str(outdir)], tmp_path)
