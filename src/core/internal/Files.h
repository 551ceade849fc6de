// The core's file helpers are public (hosts write their own files atomically too); this name is
// kept for the core's sources.
#pragma once
#include "ima/Files.h"
