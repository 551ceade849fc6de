// Library and interface versions.
#include "ima.h"

extern "C" {

const char* ima_version(void) { return IMA_VERSION_STRING; }

int ima_api_version(void) { return IMA_API_VERSION; }

}  // extern "C"
