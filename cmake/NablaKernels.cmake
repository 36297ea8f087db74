# nabla_add_kernels: kernels compiled ahead of time at build time, as a library target.
#
#   nabla_add_kernels(TARGET mlp SOURCE mlp.nabla [FUNCTIONS mlp ...] [DTYPE f32|f64]
#                     [DIMS D=784 H=128 ...] [CPU name])
#
# runs `nabla compile` (docs/aot.md) on SOURCE, once per function in FUNCTIONS (each gives NAME.o
# and NAME.h) or once for all of them (TARGET.o and TARGET.h), and makes TARGET a static library
# of the objects with the headers' folder on its include path and nabla_rt (the special
# functions), OpenBLAS and libm on its link line. Sources and headers are rebuilt when SOURCE or
# the nabla executable changes.
include_guard(GLOBAL)

function(nabla_add_kernels)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "TARGET;SOURCE;DTYPE;CPU" "FUNCTIONS;DIMS")
  if(NOT ARG_TARGET OR NOT ARG_SOURCE)
    message(FATAL_ERROR "nabla_add_kernels needs TARGET and SOURCE")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "nabla_add_kernels: unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  get_filename_component(source "${ARG_SOURCE}" ABSOLUTE)
  set(outdir "${CMAKE_CURRENT_BINARY_DIR}/${ARG_TARGET}.nabla")
  file(MAKE_DIRECTORY "${outdir}")
  set(options)
  if(ARG_DTYPE)
    list(APPEND options --dtype ${ARG_DTYPE})
  endif()
  if(ARG_CPU)
    list(APPEND options --cpu ${ARG_CPU})
  endif()
  foreach(dim IN LISTS ARG_DIMS)
    list(APPEND options --dim ${dim})
  endforeach()
  set(names ${ARG_FUNCTIONS})
  if(NOT names)
    set(names ${ARG_TARGET})
  endif()
  set(objects)
  set(headers)
  foreach(name IN LISTS names)
    set(fn)
    if(ARG_FUNCTIONS)
      set(fn --fn ${name})
    endif()
    add_custom_command(
      OUTPUT "${outdir}/${name}.o" "${outdir}/${name}.h"
      COMMAND nabla::compiler compile "${source}" -o "${outdir}/${name}.o"
              --header "${outdir}/${name}.h" ${fn} ${options}
      DEPENDS "${source}" nabla::compiler
      COMMENT "nabla: compiling ${ARG_SOURCE} ${fn}"
      VERBATIM)
    list(APPEND objects "${outdir}/${name}.o")
    list(APPEND headers "${outdir}/${name}.h")
  endforeach()
  add_library(${ARG_TARGET} STATIC ${objects} ${headers})
  set_source_files_properties(${objects} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
  set_target_properties(${ARG_TARGET} PROPERTIES LINKER_LANGUAGE C)
  target_include_directories(${ARG_TARGET} PUBLIC "${outdir}")
  find_library(NABLA_OPENBLAS_LIBRARY NAMES openblas)
  target_link_libraries(${ARG_TARGET} PUBLIC nabla::runtime m)
  if(NABLA_OPENBLAS_LIBRARY)
    target_link_libraries(${ARG_TARGET} PUBLIC ${NABLA_OPENBLAS_LIBRARY})
  endif()
endfunction()
