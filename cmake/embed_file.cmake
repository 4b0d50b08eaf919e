# cmake -DIN=file -DOUT=file.cc -DNAME=ns::symbol -P embed_file.cmake
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
string(REGEX MATCH "^(.*)::([^:]+)$" _ "${NAME}")
set(ns ${CMAKE_MATCH_1})
set(sym ${CMAKE_MATCH_2})
file(WRITE ${OUT}.tmp "// Generated from ${IN} by cmake/embed_file.cmake; do not edit.
#include <string_view>
namespace ${ns} {
namespace {
const unsigned char kBytes[] = {
${bytes}0};
}  // namespace
extern const std::string_view ${sym}(reinterpret_cast<const char*>(kBytes), sizeof(kBytes) - 1);
}  // namespace ${ns}
")
# Unchanged output keeps its timestamp: no needless recompiles.
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
