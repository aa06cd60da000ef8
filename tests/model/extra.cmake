# libFuzzer target for the checkpoint parsers (tests/model/fuzz_safetensors.cpp, cmake/Fuzz.cmake): run for a
# bounded time on the seed corpus in tests/model/corpus.
set(_model_src ${PROJECT_SOURCE_DIR}/src/model)
if(SRR_BUILD_FUZZ)
  set(_all ALL)
endif()
srr_add_fuzz_target(fuzz_safetensors FOLDER model ${_all}
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_safetensors.cpp ${_model_src}/safetensors.cpp ${_model_src}/dtype.cpp
          ${_model_src}/json_input.cpp ${PROJECT_SOURCE_DIR}/src/base/mapped_file.cpp ${_model_src}/llama2c.cpp
          ${_model_src}/config.cpp ${PROJECT_SOURCE_DIR}/src/base/files.cpp
  HEADERS ${_model_src}/*.hpp ${PROJECT_SOURCE_DIR}/src/base/*.hpp)
if(SRR_FUZZ_CXX)
  add_test(NAME model.fuzz_safetensors
           COMMAND ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors -max_total_time=20 -rss_limit_mb=2048
                   -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors_artifacts/
                   ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors_corpus ${CMAKE_CURRENT_SOURCE_DIR}/corpus)
  set_tests_properties(model.fuzz_safetensors PROPERTIES FIXTURES_REQUIRED srr_fuzz_safetensors
                       LABELS "fuzz;model" TIMEOUT 300)
endif()
