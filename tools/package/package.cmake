# Installation rules and the Debian package (included by the top CMakeLists.txt).
#
#   cmake -S . -B build-deb -G Ninja -DCMAKE_INSTALL_PREFIX=/usr
#   ninja -C build-deb && (cd build-deb && cpack -G DEB)    # vigie_VERSION_ARCH.deb
#
# The package: the three binaries in /usr/bin with their man pages (help2man,
# from each binary's --help), the systemd unit in /lib/systemd/system, the
# sample configuration as the conffile /etc/vigie/vigie.yaml, the README and
# docs/ in /usr/share/doc/vigie with the copyright file and changelog. The
# maintainer scripts beside this file create the `vigie` system user and
# /var/lib/vigie (postinst), stop the service on removal (prerm), and on purge
# remove the user and /var/lib/vigie (postrm). tests/package/test_deb.sh
# installs, removes and purges it.
include(GNUInstallDirs)

set(VIGIE_PACKAGE_MAINTAINER
    "Vigie maintainers <maintainers@users.noreply.r-seed-3591cc8c.example>"
    CACHE STRING "Maintainer field of the Debian package (Name <email>)")

# Paths baked into the unit and the configuration. With the prefix /usr (the
# package's) GNUInstallDirs puts the configuration in /etc, and the unit goes
# to /lib/systemd/system, where Debian 12 keeps the units of its packages.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(vg_unit_default /lib/systemd/system)
else()
  set(vg_unit_default ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(VIGIE_SYSTEMD_UNIT_DIR ${vg_unit_default} CACHE PATH
    "Where vigied.service is installed (absolute)")
set(vg_config_dir ${CMAKE_INSTALL_FULL_SYSCONFDIR}/vigie)

# vg_write(FILE TEXT): FILE in this build directory holds TEXT, rewritten
# only when TEXT changes.
function(vg_write file text)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/${file}.tmp "${text}")
  configure_file(${CMAKE_CURRENT_BINARY_DIR}/${file}.tmp
                 ${CMAKE_CURRENT_BINARY_DIR}/${file} COPYONLY)
endfunction()

# ---- binaries and man pages
install(TARGETS vigied vigieq vigie-gen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# One man page per binary, generated from its --help by help2man (so it never
# disagrees with the binary), gzipped without a timestamp as Debian wants.
# Sanitizer and cross builds skip them: their binaries are not for installing.
find_program(HELP2MAN help2man)
set(VIGIE_MANPAGES OFF)
if(HELP2MAN AND NOT VG_SAN_FLAGS AND NOT CMAKE_CROSSCOMPILING)
  set(VIGIE_MANPAGES ON)
  set(vg_man_names
      "vigied=Vigie sensor rollup engine: consumes Kafka, stores, publishes"
      "vigieq=query the windows and rollups of a Vigie store"
      "vigie-gen=simulate a town's sensors and write their messages to Kafka or files")
  set(vg_man_pages "")
  foreach(entry ${vg_man_names})
    string(REGEX MATCH "^[^=]+" bin "${entry}")
    string(REGEX REPLACE "^[^=]+=" "" name "${entry}")
    set(page ${CMAKE_CURRENT_BINARY_DIR}/man/${bin}.1)
    add_custom_command(
      OUTPUT ${page}.gz
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/man
      COMMAND ${HELP2MAN} --no-info --no-discard-stderr
              --version-string=${PROJECT_VERSION} --name=${name}
              --output=${page} $<TARGET_FILE:${bin}>
      COMMAND gzip -9nf ${page}
      DEPENDS ${bin}
      COMMENT "Man page ${bin}.1 (help2man)"
      VERBATIM)
    list(APPEND vg_man_pages ${page}.gz)
  endforeach()
  add_custom_target(vigie-manpages ALL DEPENDS ${vg_man_pages})
  install(FILES ${vg_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "No man pages: help2man not found, or a sanitizer/cross build "
                 "(cpack -G DEB refuses to package without them)")
endif()

# ---- the systemd unit: tools/systemd/vigied.service names the package's
# paths; another prefix gets a copy naming its own.
file(READ ${PROJECT_SOURCE_DIR}/tools/systemd/vigied.service vg_unit)
string(REPLACE "/usr/bin/vigied" "${CMAKE_INSTALL_FULL_BINDIR}/vigied" vg_unit "${vg_unit}")
string(REPLACE "/etc/vigie/vigie.yaml" "${vg_config_dir}/vigie.yaml" vg_unit "${vg_unit}")
vg_write(vigied.service "${vg_unit}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${PROJECT_SOURCE_DIR}/tools/systemd/vigied.service)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/vigied.service
        DESTINATION ${VIGIE_SYSTEMD_UNIT_DIR})

# ---- the configuration: the sample itself (data_dir /var/lib/vigie, a
# broker on 127.0.0.1:9092, HTTP on 127.0.0.1:8080), one source of truth.
# A conffile in the package: dpkg keeps the operator's edits on upgrade and
# removal. (`cmake --install` replaces an existing file.)
install(FILES ${PROJECT_SOURCE_DIR}/tools/vigie.example.yaml
        DESTINATION ${vg_config_dir} RENAME vigie.yaml)

# ---- documentation, copyright, changelog
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB vg_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${vg_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)

# The copyright file: tools/package/copyright, then the licence of the source
# tree when it has one (LICENSE or COPYING at its top).
file(READ ${CMAKE_CURRENT_LIST_DIR}/copyright vg_copyright)
set(vg_licence "")
foreach(f LICENSE LICENSE.md LICENSE.txt COPYING)
  if(NOT vg_licence AND EXISTS ${PROJECT_SOURCE_DIR}/${f})
    set(vg_licence ${PROJECT_SOURCE_DIR}/${f})
  endif()
endforeach()
if(vg_licence)
  file(READ ${vg_licence} vg_text)
  get_filename_component(vg_name ${vg_licence} NAME)
  string(APPEND vg_copyright "\nThe licence (${vg_name} of the source tree):\n\n${vg_text}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${vg_licence})
else()
  string(APPEND vg_copyright "
The source tree has no licence file (LICENSE or COPYING) yet: no licence is
stated for this software. This file will carry the licence's text once the
authors have chosen one.
")
endif()
vg_write(copyright "${vg_copyright}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${CMAKE_CURRENT_LIST_DIR}/copyright)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# A Debian changelog (Debian wants one in every binary package): one entry
# for this version; the history is git's. Its date follows SOURCE_DATE_EPOCH
# when set (reproducible builds). A version without a Debian revision makes
# this a native package, whose changelog is changelog.gz.
string(TIMESTAMP vg_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
vg_write(changelog
"vigie (${PROJECT_VERSION}) unstable; urgency=medium

  * Vigie ${PROJECT_VERSION}, packaged from its source tree with cpack -G DEB.
    The changes are in the project's git history.

 -- ${VIGIE_PACKAGE_MAINTAINER}  ${vg_date}
")
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
  COMMAND gzip -9nc ${CMAKE_CURRENT_BINARY_DIR}/changelog
          > ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz
  DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/changelog
  COMMENT "Debian changelog")
add_custom_target(vigie-changelog ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- CPack: the Debian package
set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME vigie)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Vigie")
set(CPACK_PACKAGE_CONTACT ${VIGIE_PACKAGE_MAINTAINER})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
    WORLD_READ WORLD_EXECUTE)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "sensor time-series engine: Kafka in, exact rollups and open data out")
# the extended description (the summary above is the synopsis line)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"Vigie turns a city's raw sensor streams (air quality, energy meters,
traffic, bike counters, parking) into open data. vigied consumes them
from Kafka, aggregates them in event time, keeps the windows in LMDB and
publishes hourly and daily rollups, exactly once across crashes, through
an HTTP API compatible with Opendatasoft Explore v2.1, a DCAT catalog, a
Kafka topic and files. vigieq queries the store; vigie-gen simulates a
town's sensors.
.
The service runs as the system user vigie with its store in
/var/lib/vigie; its configuration is /etc/vigie/vigie.yaml. It is neither
enabled nor started on installation: edit the configuration, then
systemctl enable --now vigied.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${VIGIE_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# the shared libraries' packages, from dpkg-shlibdeps; adduser for postinst
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# CPack marks no conffile by itself: the configuration is listed here
vg_write(conffiles "${vg_config_dir}/vigie.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/postinst ${CMAKE_CURRENT_LIST_DIR}/prerm
    ${CMAKE_CURRENT_LIST_DIR}/postrm ${CMAKE_CURRENT_BINARY_DIR}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# checks made when cpack runs (the prefix, the man pages)
# (CPack passes on the variables whose names start with CPACK_)
set(CPACK_VIGIE_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_VIGIE_MANPAGES ${VIGIE_MANPAGES})
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/cpack_checks.cmake)
include(CPack)
