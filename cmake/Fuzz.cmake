# libFuzzer targets. libFuzzer needs clang while the main build may use g++, so clang++ compiles each fuzzer
# and the sources it exercises directly through a custom command; ctest builds it on demand (a fixture test)
# and runs it for a bounded number of inputs. Inputs the fuzzer generates go to the build tree, never to the
# sources.
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(SRR_FUZZ_CXX ${CMAKE_CXX_COMPILER} CACHE FILEPATH "clang++ used for libFuzzer targets")
else()
  find_program(SRR_FUZZ_CXX NAMES clang++ clang++-14 DOC "clang++ used for libFuzzer targets")
endif()
if(NOT SRR_FUZZ_CXX)
  message(STATUS "clang++ not found: the libFuzzer tests (*.fuzz_*) are not added")
endif()

# srr_add_fuzz_target(<name> FOLDER <folder> SOURCES <files...> HEADERS <globs...> [INCLUDE_DIRS <dirs...>]
#                     [LIBRARIES <libs...>] [ALL])
# Builds ${CMAKE_CURRENT_BINARY_DIR}/<name> with -fsanitize=fuzzer,address,undefined (target <name>, built
# with `all` when ALL is given) and adds the test <folder>.<name>_build, which builds it and sets up the
# fixture srr_<name>. The caller adds the fuzzing test itself (with FIXTURES_REQUIRED srr_<name>), using
# the directories <name>_corpus (generated inputs) and <name>_artifacts (crashing inputs) next to the
# executable. The include path is src/, nlohmann_json's and INCLUDE_DIRS (the system directory is left out:
# -I/usr/include breaks #include_next). Does nothing when no clang++ is found.
function(srr_add_fuzz_target name)
  if(NOT SRR_FUZZ_CXX)
    return()
  endif()
  cmake_parse_arguments(F "ALL" "FOLDER" "SOURCES;HEADERS;INCLUDE_DIRS;LIBRARIES" ${ARGN})
  file(GLOB headers CONFIGURE_DEPENDS ${F_HEADERS})
  set(includes -I${PROJECT_SOURCE_DIR}/src)
  get_target_property(json_dirs nlohmann_json::nlohmann_json INTERFACE_INCLUDE_DIRECTORIES)
  foreach(dir IN LISTS F_INCLUDE_DIRS json_dirs)
    if(dir AND NOT dir STREQUAL "/usr/include")
      list(APPEND includes -I${dir})
    endif()
  endforeach()
  set(exe ${CMAKE_CURRENT_BINARY_DIR}/${name})
  add_custom_command(
    OUTPUT ${exe}
    COMMAND ${SRR_FUZZ_CXX} -std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -DSRR_VERSION="fuzz" ${includes} ${F_SOURCES} ${F_LIBRARIES} -o ${exe}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/${name}_corpus
            ${CMAKE_CURRENT_BINARY_DIR}/${name}_artifacts
    DEPENDS ${F_SOURCES} ${headers}
    COMMENT "Building libFuzzer target ${name} with ${SRR_FUZZ_CXX}"
    VERBATIM)
  if(F_ALL)
    add_custom_target(${name} ALL DEPENDS ${exe})
  else()
    add_custom_target(${name} DEPENDS ${exe})
  endif()
  add_test(NAME ${F_FOLDER}.${name}_build COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target ${name})
  set_tests_properties(${F_FOLDER}.${name}_build PROPERTIES FIXTURES_SETUP srr_${name} LABELS "fuzz;${F_FOLDER}"
                       TIMEOUT 900)
endfunction()
