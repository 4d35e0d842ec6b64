# Read by cpack before it packages (CPACK_PROJECT_CONFIG_FILE in package.cmake):
# the Debian package's paths and man pages are decided when CMake configures.
if(CPACK_GENERATOR STREQUAL "DEB")
  if(NOT CPACK_VIGIE_PREFIX STREQUAL "/usr")
    message(FATAL_ERROR
      "cpack -G DEB: this build directory was configured with the prefix "
      "${CPACK_VIGIE_PREFIX}; the package's unit and configuration paths need "
      "-DCMAKE_INSTALL_PREFIX=/usr (cmake -S . -B build-deb -G Ninja -DCMAKE_INSTALL_PREFIX=/usr)")
  endif()
  if(NOT CPACK_VIGIE_MANPAGES)
    message(FATAL_ERROR
      "cpack -G DEB: no man pages in this build directory: install help2man "
      "(bash tools/bootstrap.sh does), reconfigure, rebuild; not a sanitizer build")
  endif()
endif()
