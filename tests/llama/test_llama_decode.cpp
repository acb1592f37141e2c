// placeholder until the decoder tests land
#include "support/catch.hpp"
