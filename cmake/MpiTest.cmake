# add_mpi_test(NAME <name> NP <n> COMMAND <exe> [args...])
# Runs an MPI program under ctest. The launcher is mpiexec by default; configure with
#   -DMPIEXEC_EXECUTABLE=/usr/bin/srun -DMPIEXEC_PREFLAGS=--mpi=pmix
# to run the same tests through Slurm. Root and oversubscription are allowed through the environment
# because CI runs as root on 2 cores, and one BLAS thread per rank avoids oversubscribing the cores.
set(MPIEXEC_PREFLAGS "--oversubscribe" CACHE STRING "flags before the executable")

# The environment of every test that starts MPI, whether through add_mpi_test, a script that calls mpiexec,
# or an srr command that initialises MPI itself (calibrate, eval, quantize, sweep). In sanitizer builds it
# turns leak checking off: Open MPI's dlopen'ed components leak at MPI_Finalize, from modules already
# unloaded, so LeakSanitizer cannot suppress them by library name (address and UB checks stay on).
set(SRR_MPI_TEST_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")
if(SRR_SANITIZE)
  list(APPEND SRR_MPI_TEST_ENV "ASAN_OPTIONS=detect_leaks=0")
endif()
function(add_mpi_test)
  cmake_parse_arguments(T "" "NAME;NP" "COMMAND" ${ARGN})
  list(POP_FRONT T_COMMAND exe)
  separate_arguments(_pre UNIX_COMMAND "${MPIEXEC_PREFLAGS}")
  add_test(NAME ${T_NAME}
           COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${T_NP} ${_pre}
                   ${exe} ${MPIEXEC_POSTFLAGS} ${T_COMMAND})
  set_tests_properties(${T_NAME} PROPERTIES
    PROCESSORS ${T_NP} TIMEOUT 600 LABELS "mpi;np${T_NP}"
    ENVIRONMENT "${SRR_MPI_TEST_ENV};SRR_DATA_DIR=${SRR_DATA_DIR}")
endfunction()
