# Debian's librdkit-dev ships no CMake config or .pc file: find the headers and the libraries we use.
# Defines RDKit::RDKit (an interface target over the listed components plus Boost's headers).
find_path(RDKIT_INCLUDE_DIR GraphMol/RDKitBase.h PATH_SUFFIXES rdkit)
find_package(Boost 1.74 QUIET)
set(_rdkit_components SmilesParse FileParsers DistGeomHelpers DistGeometry ForceFieldHelpers ForceField
    Optimizer MolTransforms SubstructMatch Alignment EigenSolvers GraphMol DataStructs RDGeometryLib
    RDGeneral RDBoost)
set(RDKIT_LIBRARIES "")
foreach(c IN LISTS _rdkit_components)
  find_library(RDKIT_${c}_LIBRARY NAMES RDKit${c})
  if(RDKIT_${c}_LIBRARY)
    list(APPEND RDKIT_LIBRARIES ${RDKIT_${c}_LIBRARY})
  else()
    set(_rdkit_missing "${_rdkit_missing} RDKit${c}")
  endif()
endforeach()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(RDKit REQUIRED_VARS RDKIT_INCLUDE_DIR RDKIT_LIBRARIES Boost_FOUND
                                  REASON_FAILURE_MESSAGE "missing:${_rdkit_missing} (install librdkit-dev libboost-dev)")
if(RDKit_FOUND AND NOT TARGET RDKit::RDKit)
  add_library(RDKit::RDKit INTERFACE IMPORTED)
  set_target_properties(RDKit::RDKit PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${RDKIT_INCLUDE_DIR};${Boost_INCLUDE_DIRS}"
                        INTERFACE_LINK_LIBRARIES "${RDKIT_LIBRARIES}")
endif()
