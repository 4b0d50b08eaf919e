# Install layout and the Debian package.
#   cmake --install BUILD [--prefix /usr/local]   binaries, unit, tmpfiles, sysusers, config, policies
#   (cd BUILD && cpack -G DEB)                    ftsentinel_VERSION_ARCH.deb: installs and enables the service
include(GNUInstallDirs)

# The unit names the binaries by absolute path, so it is written at install
# time with the prefix in force then (cpack installs with /usr).
install(CODE "
  set(FTS_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/systemd/ftsentinel.service.in\"
                 \"${PROJECT_BINARY_DIR}/systemd/ftsentinel.service\" @ONLY)
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
       FILES \"${PROJECT_BINARY_DIR}/systemd/ftsentinel.service\")
")
install(FILES ${PROJECT_SOURCE_DIR}/systemd/ftsentinel.tmpfiles DESTINATION lib/tmpfiles.d RENAME ftsentinel.conf)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/ftsentinel.sysusers DESTINATION lib/sysusers.d RENAME ftsentinel.conf)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/ftsentinel.yaml DESTINATION /etc/ftsentinel)
install(DIRECTORY DESTINATION /etc/ftsentinel/policies.d)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME ftsentinel)
set(CPACK_PACKAGE_VENDOR ftsentinel)
set(CPACK_PACKAGE_CONTACT "ftsentinel maintainers <ftsentinel@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Runtime sentinel (eBPF) for ML training nodes")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm
    ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
