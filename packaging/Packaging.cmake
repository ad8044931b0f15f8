# Install rules and the Debian package (CPack), included at the end of CMakeLists.txt.
# `cmake --install build` installs mega and mega-cli, the sample config and the schema files,
# plus the system files below; `cpack` in build/ makes mega_VERSION_ARCH.deb (prefix /usr).
# The packaged /etc/mega/wechat.ini is config/wechat.ini with its paths and daemonize
# changed (made at configure time, so the two cannot drift apart).
include(GNUInstallDirs)

install(TARGETS mega mega-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES config/wechat.ini DESTINATION ${CMAKE_INSTALL_DATADIR}/mega)
install(FILES ${SCHEMA_FILES} DESTINATION ${CMAKE_INSTALL_DATADIR}/mega/schema)

# The packaged config: each replaced line must be found in the sample, or configuring fails.
# (Lines are passed as quoted arguments, never as lists: they hold semicolons.)
function(mega_replace_line var in from to)
  string(FIND "${${var}}" "\n${from}\n" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "packaging: '${from}' is no longer a line of ${in}: update "
                        "packaging/Packaging.cmake")
  endif()
  string(REPLACE "\n${from}\n" "\n${to}\n" text "${${var}}")
  set(${var} "${text}" PARENT_SCOPE)
endfunction()
function(mega_packaged_config in out)
  file(READ ${in} text)
  mega_replace_line(text ${in} "queue_file_path = logs/queue"
                    "queue_file_path = /var/lib/mega/wechat")
  mega_replace_line(text ${in} ";pid_file = logs/queue/mega.pid"
                    ";pid_file = /var/lib/mega/wechat/mega.pid")
  mega_replace_line(text ${in} "daemonize = 1" "daemonize = 0")
  mega_replace_line(text ${in} "log_file = logs/mega.log" "log_file = /var/log/mega/wechat.log")
  set(header [[
; The packaged config of mega@wechat (systemd): config/wechat.ini with the paths under
; /var/lib/mega and /var/log/mega and daemonize = 0 (systemd runs the server in the
; foreground: keep 0). Another instance NAME: copy this file to NAME.ini, change the
; listen ports and replace "wechat" in the three paths with NAME.
;
]])
  file(WRITE ${out} "${header}${text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${in})
endfunction()
mega_packaged_config(${CMAKE_SOURCE_DIR}/config/wechat.ini
                     ${CMAKE_BINARY_DIR}/packaging/wechat.ini)

# The systemd unit, the logrotate file and /etc/mega/wechat.ini depend on the prefix given
# at install time (/usr for the package: config in /etc), so a script writes them then.
install(CODE "set(MEGA_PACKAGING_DIR \"${CMAKE_SOURCE_DIR}/packaging\")
set(MEGA_PACKAGED_CONFIG \"${CMAKE_BINARY_DIR}/packaging/wechat.ini\")
set(MEGA_GENERATED_DIR \"${CMAKE_BINARY_DIR}/packaging/installed\")")
install(SCRIPT packaging/InstallSystemFiles.cmake)

find_program(DPKG_SHLIBDEPS dpkg-shlibdeps)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mega)
set(CPACK_PACKAGE_VENDOR mega)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "WeChat template-message queue server (Mega-Wechat compatible)")
set(CPACK_PACKAGE_DESCRIPTION
    "mega queues and delivers WeChat template messages: the TCP protocol, template table\n"
    "and ini of Mega-Wechat, a durable disk queue, retries, rate limits, an admin API.\n"
    "Run one instance per config file: systemctl enable --now mega@wechat.")
string(JOIN "" CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(MEGA_DEB_MAINTAINER "mega maintainers <root@localhost>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${MEGA_DEB_MAINTAINER}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The shared libraries' packages come from dpkg-shlibdeps; adduser is for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ${DPKG_SHLIBDEPS})
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mariadb-server | default-mysql-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/conffiles ${CMAKE_SOURCE_DIR}/packaging/postinst
    ${CMAKE_SOURCE_DIR}/packaging/prerm ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Staged with DESTDIR and CMAKE_INSTALL_PREFIX=/usr, whatever prefix the build has.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
include(CPack)
