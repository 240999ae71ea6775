// Placeholder so the library target has a source until the core layer lands.
#include "streamframe/value.hpp"
