# add_mpi_test(NAME <name> NP <n> COMMAND <exe> [args...])
# Runs an MPI program under ctest. The launcher is mpiexec by default; configure with
#   -DMPIEXEC_EXECUTABLE=/usr/bin/srun -DMPIEXEC_PREFLAGS=--mpi=pmix
# to run the same tests through Slurm. Root and oversubscription are allowed through the environment
# because CI runs as root on 2 cores, and one BLAS thread per rank avoids oversubscribing the cores.
set(MPIEXEC_PREFLAGS "--oversubscribe" CACHE STRING "flags before the executable")
function(add_mpi_test)
  cmake_parse_arguments(T "" "NAME;NP" "COMMAND" ${ARGN})
  list(POP_FRONT T_COMMAND exe)
  separate_arguments(_pre UNIX_COMMAND "${MPIEXEC_PREFLAGS}")
  add_test(NAME ${T_NAME}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} ${_pre}
                   ${exe} ${MPIEXEC_POSTFLAGS} ${T_COMMAND})
  set_tests_properties(${T_NAME} PROPERTIES
    PROCESSORS ${T_NP} TIMEOUT 600 LABELS "mpi;np${T_NP}"
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1;SRR_DATA_DIR=${SRR_DATA_DIR}")
  srr_no_leak_check_for_mpi(${T_NAME})
endfunction()

# Open MPI's dlopen'ed components leak at MPI_Finalize, from modules already unloaded, so LeakSanitizer
# cannot suppress them by library name: MPI programs run with leak checking off in sanitizer builds (address
# and undefined-behaviour checks stay on).
function(srr_no_leak_check_for_mpi test)
  if(SRR_SANITIZE)
    set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
endfunction()
