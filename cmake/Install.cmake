# `cmake --install <build> [--prefix /usr]` (DESTDIR honoured): kcred laid out as a distribution
# ships it. With --prefix /usr:
#   /usr/sbin/kcredd                           daemon/CMakeLists.txt
#   /usr/bin/kcred, /usr/bin/kcred-devcluster  client/CMakeLists.txt, below
#   /usr/lib/systemd/system/kcredd.{service,socket}
#   /usr/lib/sysusers.d/kcred.conf, /usr/lib/tmpfiles.d/kcred.conf
#   /usr/share/doc/kcred/{README.md,systemd.md,examples/kcredd.yaml}
#   /etc/kcred/kcredd.yaml                     sample config; an existing one is never overwritten
# systemd's own directories live under <prefix>/lib on every distribution, so they do not follow
# CMAKE_INSTALL_LIBDIR (lib/x86_64-linux-gnu on Debian). The sealing key is per host and is never
# installed (see systemd/README.md).

install(TARGETS kcred-devcluster RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(_kcred_systemd ${PROJECT_SOURCE_DIR}/systemd)

install(FILES ${_kcred_systemd}/kcredd.socket DESTINATION lib/systemd/system)
install(FILES ${_kcred_systemd}/kcredd.sysusers DESTINATION lib/sysusers.d RENAME kcred.conf)
install(FILES ${_kcred_systemd}/kcredd.tmpfiles DESTINATION lib/tmpfiles.d RENAME kcred.conf)
install(FILES ${_kcred_systemd}/kcredd.yaml ${_kcred_systemd}/kcredd-rbac.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${_kcred_systemd}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME systemd.md)

# Decided at install time, because `cmake --install --prefix` may differ from the configured
# prefix: ExecStart= names the installed kcredd, and the sample config goes to /etc for the /usr
# prefix (as GNUInstallDirs does for sysconfdir) and to <prefix>/etc otherwise.
install(CODE "
  set(_kcred_systemd \"${_kcred_systemd}\")
  set(_kcred_staging \"${CMAKE_CURRENT_BINARY_DIR}/kcred-install\")
  set(_kcred_sbindir \"${CMAKE_INSTALL_SBINDIR}\")
")
install(CODE [[
  file(READ "${_kcred_systemd}/kcredd.service" _unit)
  string(REPLACE "ExecStart=/usr/sbin/kcredd "
                 "ExecStart=${CMAKE_INSTALL_PREFIX}/${_kcred_sbindir}/kcredd " _unit "${_unit}")
  file(WRITE "${_kcred_staging}/kcredd.service" "${_unit}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES "${_kcred_staging}/kcredd.service")

  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(_kcred_etc "/etc/kcred")
  else()
    set(_kcred_etc "${CMAKE_INSTALL_PREFIX}/etc/kcred")
  endif()
  if(EXISTS "$ENV{DESTDIR}${_kcred_etc}/kcredd.yaml")
    message(STATUS "Keeping existing configuration: $ENV{DESTDIR}${_kcred_etc}/kcredd.yaml")
  else()
    file(INSTALL DESTINATION "${_kcred_etc}" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES "${_kcred_systemd}/kcredd.yaml")
  endif()
]])
