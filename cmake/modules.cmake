# One CMake library per folder under daemon/, with the build enforcing the
# boundaries between them:
#  - a module sees only the headers of the modules it depends on (directly or
#    through them): its include root is a folder of links to those modules
#    alone, never daemon/ itself, so `#include "egress/..."` from a module that
#    does not depend on egress fails to compile;
#  - modules are declared bottom-up and may only depend on modules declared
#    before them, so a dependency cycle cannot be written down: configure fails;
#  - only modules declared KERNEL_ABI see bpf/include (the kernel's structs).
set(FTS_MODULE_ROOTS ${CMAKE_BINARY_DIR}/module_roots)
file(REMOVE_RECURSE ${FTS_MODULE_ROOTS})  # links of a dependency since removed must go

add_library(fts_third_party INTERFACE)
target_link_libraries(fts_third_party INTERFACE fts_proto yaml-cpp spdlog::spdlog Boost::headers Threads::Threads
  OpenSSL::SSL OpenSSL::Crypto SQLite::SQLite3)
target_compile_definitions(fts_third_party INTERFACE FTS_VERSION="${PROJECT_VERSION}" BOOST_ASIO_NO_DEPRECATED)

# The modules `name` may include: itself and the closure of its dependencies.
function(_fts_module_closure name deps out)
  set(closure ${name})
  foreach(d IN LISTS deps)
    get_property(known GLOBAL PROPERTY FTS_MODULE_CLOSURE_${d} SET)
    if(NOT known)
      message(FATAL_ERROR "daemon/${name} depends on '${d}', which is not declared before it: declare modules "
                          "bottom-up in daemon/CMakeLists.txt (a module that cannot be placed is part of a cycle)")
    endif()
    get_property(sub GLOBAL PROPERTY FTS_MODULE_CLOSURE_${d})
    list(APPEND closure ${sub})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set(${out} ${closure} PARENT_SCOPE)
endfunction()

# Gives `target` (a module's library or executable) the include root of
# module `name` with dependencies `deps`.
function(fts_module_target target name deps kernel_abi)
  get_property(exists GLOBAL PROPERTY FTS_MODULE_CLOSURE_${name} SET)
  if(exists)
    message(FATAL_ERROR "daemon/${name} is declared twice")
  endif()
  _fts_module_closure(${name} "${deps}" closure)
  set_property(GLOBAL PROPERTY FTS_MODULE_CLOSURE_${name} ${closure})
  set(root ${FTS_MODULE_ROOTS}/${name})
  file(MAKE_DIRECTORY ${root})
  foreach(m IN LISTS closure)
    file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/${m} ${root}/${m} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PRIVATE ${root})
  if(kernel_abi)
    target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/bpf/include)
  endif()
  foreach(d IN LISTS deps)
    target_link_libraries(${target} PUBLIC fts_${d})
  endforeach()
  target_link_libraries(${target} PUBLIC fts_third_party)
endfunction()

# fts_module(<name> SOURCES <files...> [DEPS <modules...>] [KERNEL_ABI]):
# the static library fts_<name> from daemon/<name>/.
function(fts_module name)
  cmake_parse_arguments(M "KERNEL_ABI" "" "SOURCES;DEPS" ${ARGN})
  add_library(fts_${name} STATIC ${M_SOURCES})
  fts_module_target(fts_${name} ${name} "${M_DEPS}" ${M_KERNEL_ABI})
endfunction()
