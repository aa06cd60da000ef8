# End-to-end and fault tests of `srr quantize` under MPI (docs/store.md). The real stories260K checkpoint
# comes from SRR_DATA_DIR (a missing file fails the tests); calibration statistics are synthetic.
add_executable(srr_store_tool store_tool.cpp)
target_link_libraries(srr_store_tool PRIVATE srr_store srr_model)

set(STORE_E2E_DIR ${CMAKE_CURRENT_BINARY_DIR}/e2e)
set(STORE_STORIES ${SRR_DATA_DIR}/stories260K/stories260K.bin)

# A fresh directory with a synthetic calibration file for stories260K.
add_test(NAME store.e2e.setup
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e_setup.sh $<TARGET_FILE:srr_store_tool> ${STORE_STORIES} ${STORE_E2E_DIR})
set_tests_properties(store.e2e.setup PROPERTIES FIXTURES_SETUP store_e2e LABELS store TIMEOUT 120)

# The same run on 1, 2 and 3 ranks (3 oversubscribes 2 cores) must give bit-identical stores.
set(STORE_VARIANT_mxint --scale qera-exact --rank 8 --bits 3)
set(STORE_VARIANT_int --quant int --bits 4 --block 16 --scale lqer --rank 6 --k-rule fixed --k 2)
foreach(variant IN ITEMS mxint int)
  foreach(np IN ITEMS 1 2 3)
    add_mpi_test(NAME store.e2e.${variant}.np${np} NP ${np}
                 COMMAND $<TARGET_FILE:srr> quantize --model ${STORE_STORIES} --calib ${STORE_E2E_DIR}/calib.h5
                         --out ${STORE_E2E_DIR}/${variant}-np${np}.h5 ${STORE_VARIANT_${variant}})
    set_tests_properties(store.e2e.${variant}.np${np} PROPERTIES FIXTURES_REQUIRED store_e2e
                         FIXTURES_SETUP store_e2e_${variant} TIMEOUT 300)
    set_property(TEST store.e2e.${variant}.np${np} APPEND PROPERTY LABELS store)
  endforeach()
  foreach(np IN ITEMS 2 3)
    add_test(NAME store.e2e.${variant}.identical_np${np}
             COMMAND $<TARGET_FILE:srr_store_tool> diff ${STORE_E2E_DIR}/${variant}-np1.h5
                     ${STORE_E2E_DIR}/${variant}-np${np}.h5)
    set_tests_properties(store.e2e.${variant}.identical_np${np} PROPERTIES FIXTURES_REQUIRED store_e2e_${variant}
                         LABELS store TIMEOUT 60)
  endforeach()
endforeach()

# Resume, refusals (configuration, checkpoint, lock) leaving the store untouched, a worker's failure
# reported by every rank without a hang, bad paths and options.
add_test(NAME store.e2e.errors
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e_errors.sh $<TARGET_FILE:srr> $<TARGET_FILE:srr_store_tool>
                 ${MPIEXEC_EXECUTABLE} ${STORE_STORIES} ${STORE_E2E_DIR} -- ${STORE_VARIANT_mxint})
set_tests_properties(store.e2e.errors PROPERTIES FIXTURES_REQUIRED store_e2e_mxint LABELS "store;mpi"
                     PROCESSORS 2 TIMEOUT 300 ENVIRONMENT "${SRR_MPI_TEST_ENV}")

# SIGKILL at ≥ 20 moments spread over runs, resume each time, compare with an uninterrupted run.
add_test(NAME store.kill
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kill_test.sh $<TARGET_FILE:srr> $<TARGET_FILE:srr_store_tool>
                 ${MPIEXEC_EXECUTABLE} ${STORE_STORIES} ${CMAKE_CURRENT_BINARY_DIR}/kill 20)
set_tests_properties(store.kill PROPERTIES LABELS "store;mpi" PROCESSORS 2 TIMEOUT 600 ENVIRONMENT "${SRR_MPI_TEST_ENV}")
