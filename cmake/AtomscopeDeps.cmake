# Every third-party dependency is found here, once.
find_package(Torch REQUIRED)
find_package(Threads REQUIRED)

# nlohmann/json: Debian's package, or a header folder passed as ATOMSCOPE_EXTRA_INCLUDE (GPU machine).
find_package(nlohmann_json 3.10 CONFIG QUIET)
if(NOT nlohmann_json_FOUND)
  find_path(NLOHMANN_JSON_INCLUDE_DIR nlohmann/json.hpp
            HINTS ${ATOMSCOPE_EXTRA_INCLUDE} ${CMAKE_SOURCE_DIR}/.deps/include REQUIRED)
  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
                        INTERFACE_INCLUDE_DIRECTORIES ${NLOHMANN_JSON_INCLUDE_DIR})
endif()

find_package(ZLIB QUIET)  # npz with deflate; stored npz works without it

if(ATOMSCOPE_STORE)
  find_package(SQLite3 REQUIRED)
endif()

# Chemistry toolkits (modules/chem/src/toolkits): RDKit, Open Babel, spglib, gemmi (header-only).
if(ATOMSCOPE_CHEM_TOOLKITS)
  find_package(RDKit REQUIRED)
  find_package(OpenBabel3 CONFIG REQUIRED)  # target: openbabel
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(SPGLIB REQUIRED IMPORTED_TARGET spglib)
  find_path(GEMMI_INCLUDE_DIR gemmi/cif.hpp REQUIRED)
  # Debian's gemmi-dev unbundles PEGTL (its CIF parser) without depending on it: tao-pegtl-dev.
  find_path(PEGTL_INCLUDE_DIR tao/pegtl.hpp REQUIRED)
endif()

if(ATOMSCOPE_GUI)
  find_package(Qt6 6.4 REQUIRED COMPONENTS Core Gui Widgets Charts OpenGL OpenGLWidgets PrintSupport Test)
  find_package(VTK 9.1 REQUIRED COMPONENTS CommonCore CommonDataModel CommonTransforms FiltersSources
               RenderingCore RenderingOpenGL2 RenderingUI InteractionStyle RenderingFreeType
               RenderingAnnotation IOImage)
endif()

if(ATOMSCOPE_TESTS)
  find_package(GTest CONFIG REQUIRED)
  include(GoogleTest)
endif()
