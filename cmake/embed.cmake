# Embeds a text asset in the build as a C++ string_view, so a file that is
# easier to read and edit on its own (an HTML page) ships inside the binary.
#   fts_embed(TARGET <lib> FILE <asset> NAME <namespace-qualified symbol>)
# declares `extern const std::string_view NAME;` for the target's sources.
# Portable: CMake itself writes the bytes as a char array (no xxd, no ld -b).
function(fts_embed)
  cmake_parse_arguments(E "" "TARGET;FILE;NAME" "" ${ARGN})
  get_filename_component(stem ${E_FILE} NAME_WE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/embed/${stem}.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DIN=${E_FILE} -DOUT=${out} -DNAME=${E_NAME} -P ${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake
    DEPENDS ${E_FILE} ${PROJECT_SOURCE_DIR}/cmake/embed_file.cmake
    COMMENT "embed ${stem}"
    VERBATIM)
  target_sources(${E_TARGET} PRIVATE ${out})
endfunction()
