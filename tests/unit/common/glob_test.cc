#include <gtest/gtest.h>
#include "common/glob.h"
