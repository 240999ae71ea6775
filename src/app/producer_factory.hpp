#pragma once

#include "kafka/config.hpp"
#include "streamframe/producer.hpp"

namespace streamframe::detail {
Producer make_producer(const kafka::Config& config);
}
