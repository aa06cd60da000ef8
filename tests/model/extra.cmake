# libFuzzer target for the checkpoint parsers (tests/model/fuzz_safetensors.cpp). libFuzzer needs clang
# while the main build may use g++, so clang++ compiles the fuzzer and the parser sources directly through
# a custom command; ctest builds it on demand (fixture) and runs it for a bounded time on the seed corpus
# in tests/model/corpus (new inputs go to the build tree, never to the sources).
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(SRR_FUZZ_CXX ${CMAKE_CXX_COMPILER} CACHE FILEPATH "clang++ used for libFuzzer targets")
else()
  find_program(SRR_FUZZ_CXX NAMES clang++ clang++-14 DOC "clang++ used for libFuzzer targets")
endif()

if(NOT SRR_FUZZ_CXX)
  message(STATUS "clang++ not found: the libFuzzer test model.fuzz_safetensors is not added")
else()
  set(_model_src ${PROJECT_SOURCE_DIR}/src/model)
  set(_fuzz_sources ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_safetensors.cpp ${_model_src}/safetensors.cpp
      ${_model_src}/dtype.cpp ${_model_src}/json_input.cpp ${PROJECT_SOURCE_DIR}/src/base/mapped_file.cpp
      ${_model_src}/llama2c.cpp ${_model_src}/config.cpp ${PROJECT_SOURCE_DIR}/src/base/files.cpp)
  file(GLOB _fuzz_headers CONFIGURE_DEPENDS ${_model_src}/*.hpp ${PROJECT_SOURCE_DIR}/src/base/*.hpp)
  # nlohmann's include directory, unless it is the system one (-I/usr/include breaks #include_next).
  set(_fuzz_includes -I${PROJECT_SOURCE_DIR}/src)
  get_target_property(_json_dirs nlohmann_json::nlohmann_json INTERFACE_INCLUDE_DIRECTORIES)
  foreach(dir IN LISTS _json_dirs)
    if(dir AND NOT dir STREQUAL "/usr/include")
      list(APPEND _fuzz_includes -I${dir})
    endif()
  endforeach()
  set(_fuzz_exe ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors)
  add_custom_command(
    OUTPUT ${_fuzz_exe}
    COMMAND ${SRR_FUZZ_CXX} -std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined ${_fuzz_includes} ${_fuzz_sources} -o ${_fuzz_exe}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus
            ${CMAKE_CURRENT_BINARY_DIR}/fuzz_artifacts
    DEPENDS ${_fuzz_sources} ${_fuzz_headers}
    COMMENT "Building libFuzzer target fuzz_safetensors with ${SRR_FUZZ_CXX}"
    VERBATIM)
  if(SRR_BUILD_FUZZ)
    add_custom_target(fuzz_safetensors ALL DEPENDS ${_fuzz_exe})
  else()
    add_custom_target(fuzz_safetensors DEPENDS ${_fuzz_exe})
  endif()

  add_test(NAME model.fuzz_safetensors_build
           COMMAND ${CMAKE_COMMAND} --build ${CMAKE_BINARY_DIR} --target fuzz_safetensors)
  set_tests_properties(model.fuzz_safetensors_build PROPERTIES FIXTURES_SETUP srr_fuzz_safetensors
                       LABELS "fuzz;model" TIMEOUT 900)
  add_test(NAME model.fuzz_safetensors
           COMMAND ${_fuzz_exe} -max_total_time=20 -rss_limit_mb=2048
                   -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz_artifacts/
                   ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus ${CMAKE_CURRENT_SOURCE_DIR}/corpus)
  set_tests_properties(model.fuzz_safetensors PROPERTIES FIXTURES_REQUIRED srr_fuzz_safetensors
                       LABELS "fuzz;model" TIMEOUT 300)
endif()
