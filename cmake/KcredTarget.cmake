# Project targets build with strict warnings; generated code and third-party headers do not.
set(KCRED_WARNINGS -Wall -Wextra -Werror)

# kcred_target(<target>): applies the project's warnings and the repository-root include path
# (every #include is spelled from the root, e.g. "daemon/config/config.h", in CMake and Bazel alike).
function(kcred_target target)
  target_compile_options(${target} PRIVATE ${KCRED_WARNINGS})
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
  else()
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  endif()
endfunction()

# kcred_unit_test(<name> SOURCES ... DEPS ...): a GoogleTest binary whose cases ctest lists one by one.
function(kcred_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  kcred_target(${name})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  if(KCRED_TSAN)
    target_link_libraries(${name} PRIVATE kcred_tsan_absl_sync)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${ARG_LABELS}")
endfunction()

# kcred_integration_test(<name> SOURCES ... DEPS ... NEEDS <executables>): a GoogleTest binary that
# starts real kcred processes (found in ${CMAKE_BINARY_DIR}/bin). Labelled "integration".
function(kcred_integration_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;NEEDS" ${ARGN})
  kcred_unit_test(${name} SOURCES ${ARG_SOURCES} DEPS kcred_test_support ${ARG_DEPS}
                  LABELS integration)
  if(ARG_NEEDS)
    add_dependencies(${name} ${ARG_NEEDS})
  endif()
endfunction()

# kcred_add_subdirectories(): adds every direct subdirectory that has a CMakeLists.txt, so a new
# component directory needs no edit of its parent.
function(kcred_add_subdirectories)
  file(GLOB children LIST_DIRECTORIES true RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}
       ${CMAKE_CURRENT_SOURCE_DIR}/*)
  list(SORT children)
  foreach(child ${children})
    if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/${child}
       AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${child}/CMakeLists.txt)
      add_subdirectory(${child})
    endif()
  endforeach()
endfunction()
