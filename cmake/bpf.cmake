# BPF build: vmlinux.h from the running kernel's BTF, one object per hook
# family, statically linked into one object, one skeleton header.
find_program(BPF_CLANG NAMES clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
set(FTS_VMLINUX_BTF "/sys/kernel/btf/vmlinux" CACHE FILEPATH "BTF to generate vmlinux.h from")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

set(BPF_OUT ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${BPF_OUT})

add_custom_command(
  OUTPUT ${BPF_OUT}/vmlinux.h
  COMMAND ${BPFTOOL} btf dump file ${FTS_VMLINUX_BTF} format c > ${BPF_OUT}/vmlinux.h.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${BPF_OUT}/vmlinux.h.tmp ${BPF_OUT}/vmlinux.h
  COMMENT "Generating vmlinux.h from ${FTS_VMLINUX_BTF}"
  VERBATIM)

# fts_bpf_skeleton(NAME SOURCES...): bpf/<src>.bpf.c -> <NAME>.skel.h
function(fts_bpf_skeleton name)
  set(objects)
  file(GLOB_RECURSE bpf_headers ${PROJECT_SOURCE_DIR}/bpf/*.h)
  foreach(src IN LISTS ARGN)
    get_filename_component(base ${src} NAME_WE)
    set(obj ${BPF_OUT}/${base}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${BPF_CLANG} -g -O2 -Wall -Werror -target bpf -mcpu=v3
              -D__TARGET_ARCH_${BPF_TARGET_ARCH}
              -I${BPF_OUT} -I${PROJECT_SOURCE_DIR}/bpf -I${PROJECT_SOURCE_DIR}/bpf/include
              -c ${PROJECT_SOURCE_DIR}/bpf/${src} -o ${obj}
      DEPENDS ${PROJECT_SOURCE_DIR}/bpf/${src} ${bpf_headers} ${BPF_OUT}/vmlinux.h
      COMMENT "BPF ${src}"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  add_custom_command(
    OUTPUT ${BPF_OUT}/${name}.bpf.o ${BPF_OUT}/${name}.skel.h
    COMMAND ${BPFTOOL} gen object ${BPF_OUT}/${name}.bpf.o ${objects}
    COMMAND ${BPFTOOL} gen skeleton ${BPF_OUT}/${name}.bpf.o name ${name} > ${BPF_OUT}/${name}.skel.h.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${BPF_OUT}/${name}.skel.h.tmp ${BPF_OUT}/${name}.skel.h
    DEPENDS ${objects}
    COMMENT "BPF skeleton ${name}"
    VERBATIM)
  add_custom_target(${name}_skel DEPENDS ${BPF_OUT}/${name}.skel.h)
  add_library(${name}_bpf INTERFACE)
  add_dependencies(${name}_bpf ${name}_skel)
  target_include_directories(${name}_bpf INTERFACE ${BPF_OUT})
endfunction()
