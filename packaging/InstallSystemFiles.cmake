# Run by `cmake --install` (and by cpack): writes the systemd unit, the logrotate file and
# the config for the prefix of this install. Prefix /usr (the package) puts the config and
# logrotate under /etc, any other prefix under PREFIX/etc; the unit goes to
# PREFIX/lib/systemd/system. An existing config is never overwritten.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(MEGA_SYSCONFDIR_ROOT /etc)
else()
  set(MEGA_SYSCONFDIR_ROOT "${prefix}/etc")
endif()
set(MEGA_SYSCONFDIR "${MEGA_SYSCONFDIR_ROOT}/mega")
set(MEGA_BINDIR "${prefix}/bin")
set(MEGA_DATADIR "${prefix}/share/mega")
set(MEGA_LOGDIR /var/log/mega)

configure_file("${MEGA_PACKAGING_DIR}/mega@.service.in" "${MEGA_GENERATED_DIR}/mega@.service"
               @ONLY)
configure_file("${MEGA_PACKAGING_DIR}/mega.logrotate.in" "${MEGA_GENERATED_DIR}/mega" @ONLY)
file(INSTALL "${MEGA_GENERATED_DIR}/mega@.service" DESTINATION "${prefix}/lib/systemd/system")
file(INSTALL "${MEGA_GENERATED_DIR}/mega" DESTINATION "${MEGA_SYSCONFDIR_ROOT}/logrotate.d")
if(EXISTS "$ENV{DESTDIR}${MEGA_SYSCONFDIR}/wechat.ini")
  message(STATUS "Kept: $ENV{DESTDIR}${MEGA_SYSCONFDIR}/wechat.ini")
else()
  file(INSTALL "${MEGA_PACKAGED_CONFIG}" DESTINATION "${MEGA_SYSCONFDIR}")
endif()
