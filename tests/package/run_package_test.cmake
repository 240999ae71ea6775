# cmake -P script behind the package_consumer test: install the built project into a fresh
# prefix, configure and build tests/package against it, run it, check its output.
#   -DSTREAMFRAME_BUILD_DIR= -DPACKAGE_SOURCE_DIR= -DWORK_DIR= -DGENERATOR= -DCXX_COMPILER=
#   -DEXTRA_FLAGS= (compile and link flags for the consumer, e.g. sanitizers)
foreach(var STREAMFRAME_BUILD_DIR PACKAGE_SOURCE_DIR WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "${var} is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(RUN_OUTPUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${STREAMFRAME_BUILD_DIR} --prefix ${prefix})

set(configure ${CMAKE_COMMAND} -S ${PACKAGE_SOURCE_DIR} -B ${WORK_DIR}/build
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if(GENERATOR)
  list(APPEND configure -G ${GENERATOR})
endif()
if(CXX_COMPILER)
  list(APPEND configure -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
if(EXTRA_FLAGS)
  list(APPEND configure "-DCMAKE_CXX_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
endif()
run(${configure})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)

run(${WORK_DIR}/build/package_consumer)
string(STRIP "${RUN_OUTPUT}" output)
if(NOT output STREQUAL [[{"a":1}]])
  message(FATAL_ERROR "package_consumer printed '${output}', expected '{\"a\":1}'")
endif()
message(STATUS "package_consumer: installed package found, linked and ran; printed ${output}")
