# The fuzz targets and what each compiles and links: shared by the libFuzzer build
# (tests/fuzz/CMakeLists.txt) and the corpus replay tests of the normal build.
set(MEGA_FUZZ_TARGETS frame_decoder json_render submit_message)
set(MEGA_FUZZ_SOURCES_frame_decoder ${CMAKE_SOURCE_DIR}/protocol/Frame.cpp)
set(MEGA_FUZZ_SOURCES_json_render ${CMAKE_SOURCE_DIR}/protocol/JsonCheck.cpp
    ${CMAKE_SOURCE_DIR}/templates/Template.cpp)
set(MEGA_FUZZ_SOURCES_submit_message ${CMAKE_SOURCE_DIR}/protocol/SubmitMessage.cpp
    ${CMAKE_SOURCE_DIR}/protocol/JsonCheck.cpp)
if(EXISTS ${CMAKE_SOURCE_DIR}/http/HttpRequestParser.cpp)
  list(APPEND MEGA_FUZZ_TARGETS http_request)
  find_path(HTTP_PARSER_INCLUDE_DIR http_parser.h REQUIRED)
  find_library(HTTP_PARSER_LIBRARY http_parser REQUIRED)
  set(MEGA_FUZZ_SOURCES_http_request ${CMAKE_SOURCE_DIR}/http/HttpRequestParser.cpp)
  set(MEGA_FUZZ_LIBS_http_request ${HTTP_PARSER_LIBRARY})
endif()
# WeChat's event pushes (events/): libexpat parses them.
find_package(EXPAT REQUIRED)
list(APPEND MEGA_FUZZ_TARGETS event_xml)
set(MEGA_FUZZ_SOURCES_event_xml ${CMAKE_SOURCE_DIR}/events/EventXml.cpp
    ${CMAKE_SOURCE_DIR}/events/Receipt.cpp)
set(MEGA_FUZZ_LIBS_event_xml EXPAT::EXPAT)
