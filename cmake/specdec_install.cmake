# Install rules: headers, the exported INTERFACE target and a relocatable, architecture-independent
# CMake package, so that find_package(specdec CONFIG) works after `cmake --install`.
include_guard(GLOBAL)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SPECDEC_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/specdec" CACHE STRING
    "Where the specdec CMake package is installed, relative to the prefix")

install(DIRECTORY "${PROJECT_SOURCE_DIR}/include/" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh")
install(TARGETS specdec EXPORT specdecTargets)
install(EXPORT specdecTargets NAMESPACE specdec:: DESTINATION "${SPECDEC_INSTALL_CMAKEDIR}")
install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/specdec")

configure_package_config_file("${PROJECT_SOURCE_DIR}/cmake/specdecConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/specdecConfig.cmake" INSTALL_DESTINATION "${SPECDEC_INSTALL_CMAKEDIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/specdecConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${PROJECT_BINARY_DIR}/specdecConfig.cmake" "${PROJECT_BINARY_DIR}/specdecConfigVersion.cmake"
        DESTINATION "${SPECDEC_INSTALL_CMAKEDIR}")
