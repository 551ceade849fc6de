# Writes a module's XML description as a C++ string constant (kModuleXml), so the executable
# prints exactly the file's text for --xml and parses its own arguments from it.
# Usage: cmake -DINPUT=IMASegment.xml -DOUTPUT=IMASegmentXml.h -P EmbedXml.cmake
file(READ "${INPUT}" content)
string(FIND "${content}" ")IMAXML\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )IMAXML\"")
endif()
get_filename_component(name "${INPUT}" NAME)
file(WRITE "${OUTPUT}"
  "// Generated from ${name} by EmbedXml.cmake; do not edit.\n#pragma once\n"
  "static const char kModuleXml[] = R\"IMAXML(${content})IMAXML\";\n")
