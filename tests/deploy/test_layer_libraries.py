"""The processor layer loads on Lambda by itself: every library its ELF files need ships in it or
is one the python3.11 runtime (Amazon Linux 2, glibc 2.26) provides. Offline: the layer's tree
is the venv's copy of the locked wheels (the very files, tests/deploy/test_layer_lock.py checks)
plus the libexpat deploy/expat.py builds from the sdist make fetched."""

from __future__ import annotations

import os
import subprocess
import tarfile
from importlib import metadata
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from deploy import elf_closure, expat, layer

GDAL_NEEDS_EXPAT = (
    "python/rasterio.libs/libgdal-rasterio-40212d0b.so.35.3.9.3 needs libexpat.so.1: neither "
    "in the layer (its RPATH, lib/) nor in the runtime"
)


def _layer_tree(root: Path) -> Path:
    """python/ as deploy/layer.py's build() lays it out (the locked distributions, minus those
    the function zip ships), its files linked to the venv's."""
    pruned = layer._names_in(layer.ROOT / "requirements.txt")
    for line in layer.LOCK.read_text(encoding="utf-8").splitlines():
        name = line.split("==", 1)[0]
        if not line or line.startswith("#") or name in pruned:
            continue
        dist = metadata.distribution(name)
        for file in dist.files or []:
            if file.parts[0] != "..":  # console scripts: bin/, never ELF
                target = root / "python" / file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(Path(str(dist.locate_file(file))))
    return root


@pytest.fixture(scope="module")
def built_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return expat.build(expat.source(), tmp_path_factory.mktemp("expat") / "lib")


def test_without_its_libexpat_gdal_would_not_load(tmp_path: Path) -> None:
    """rasterio's wheel does not bundle libexpat (auditwheel counts it as a system library),
    and Lambda's runtimes do not promise one."""
    assert elf_closure.unresolved(_layer_tree(tmp_path)) == [GDAL_NEEDS_EXPAT]


def test_every_library_the_layer_needs_ships_in_it_or_the_runtime(
    tmp_path: Path, built_lib: Path
) -> None:
    tree = _layer_tree(tmp_path)
    (tree / "lib").mkdir()
    os.symlink(built_lib, tree / "lib" / expat.SONAME)
    assert elf_closure.unresolved(tree) == []


def test_the_shipped_libexpat_is_recent_and_loads_on_glibc_2_17(built_lib: Path) -> None:
    """Every XML_* function GDAL calls, from expat >= 2.6, asking for no newer glibc than
    manylinux2014's (so Lambda's 2.26 has it)."""
    archive = expat.source()
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("cextern/expat/lib/expat.h"))
        header = tar.extractfile(member)
        assert header is not None
        assert expat.version(header.read().decode()) >= (2, 6, 0)
    glibc = elf_closure.glibc_needed(built_lib)
    assert glibc is not None and glibc <= (2, 17)
    assert built_lib.with_name(expat.LICENCE).read_text().startswith("Copyright (c) 1998")

    def dynamic_symbols(path: Path, defined: bool) -> set[str]:
        with path.open("rb") as f:
            table = ELFFile(f).get_section_by_name(".dynsym")
            assert isinstance(table, SymbolTableSection)
            return {
                s.name
                for s in table.iter_symbols()
                if s.name.startswith("XML_") and (s["st_shndx"] != "SHN_UNDEF") == defined
            }

    libs = Path(str(metadata.distribution("rasterio").locate_file("rasterio.libs")))
    wanted = dynamic_symbols(next(libs.glob("libgdal-*")), defined=False)
    assert {"XML_ParserCreate_MM", "XML_Parse"} <= wanted
    assert wanted <= dynamic_symbols(built_lib, defined=True)


def test_the_check_resolves_libraries_as_the_loader_does(tmp_path: Path) -> None:
    """Found through an RPATH of $ORIGIN, inherited from the loading file (auditwheel's
    layout) but not through a RUNPATH, nor merely lying beside; and no glibc newer than 2.26."""

    def compile_lib(path: str, body: str, *flags: str) -> None:
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        source = target.with_suffix(".c")
        source.write_text(body)
        command = ["cc", "-shared", "-fPIC", "-o", str(target), str(source), *flags]
        subprocess.run(command, check=True, cwd=tmp_path)
        source.unlink()

    libs = f"-L{tmp_path / 'pkg.libs'}"
    compile_lib("pkg.libs/libleaf.so", "int leaf(void) { return 1; }")
    compile_lib(
        "pkg.libs/libmid.so", "int leaf(void); int mid(void) { return leaf(); }", libs, "-lleaf"
    )
    rpath = "-Wl,-rpath,$ORIGIN/../pkg.libs"
    # auditwheel's extension module: RPATH, which libmid (none of its own) inherits.
    compile_lib(
        "pkg/ok.so",
        "int mid(void); int ok(void) { return mid(); }",
        libs,
        "-lmid",
        rpath,
        "-Wl,--disable-new-dtags",
    )
    # A RUNPATH is the file's own only: libmid, loaded through it, finds no libleaf.
    compile_lib(
        "run/ext.so",
        "int mid(void); int f(void) { return mid(); }",
        libs,
        "-lmid",
        rpath,
        "-Wl,--enable-new-dtags",
    )
    # No RPATH at all: the library beside it is not searched.
    compile_lib("plain/ext.so", "int leaf(void); int g(void) { return leaf(); }", libs, "-lleaf")
    (tmp_path / "plain" / "libleaf.so").symlink_to(tmp_path / "pkg.libs" / "libleaf.so")
    # arc4random: glibc 2.36.
    compile_lib("new/ext.so", "#include <stdlib.h>\nunsigned h(void) { return arc4random(); }")
    missing = "needs libleaf.so: neither in the layer (its RPATH, lib/) nor in the runtime"
    assert sorted(elf_closure.unresolved(tmp_path)) == [
        "new/ext.so needs GLIBC_2.36: the runtime has glibc 2.26",
        f"pkg.libs/libmid.so {missing}",
        f"plain/ext.so {missing}",
    ]
    # Loaded only through pkg/ok.so's RPATH, libmid finds libleaf.
    (tmp_path / "run" / "ext.so").unlink()
    assert sorted(elf_closure.unresolved(tmp_path)) == [
        "new/ext.so needs GLIBC_2.36: the runtime has glibc 2.26",
        f"plain/ext.so {missing}",
    ]
    # In lib/ (Lambda's /opt/lib, on LD_LIBRARY_PATH) every file finds it.
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libleaf.so").symlink_to(tmp_path / "pkg.libs" / "libleaf.so")
    assert elf_closure.unresolved(tmp_path) == [
        "new/ext.so needs GLIBC_2.36: the runtime has glibc 2.26"
    ]
