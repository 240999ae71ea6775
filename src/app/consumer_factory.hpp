#pragma once

#include "kafka/config.hpp"
#include "streamframe/consumer.hpp"

namespace streamframe::detail {
Consumer make_consumer(const kafka::Config& config);
}
