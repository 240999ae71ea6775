// librdkafka configuration: a plain ordered list of key/value settings, the conversion to
// rd_kafka_conf_t, and the client defaults of SEMANTICS §1 / KAF-01..03.
#pragma once

#include <librdkafka/rdkafka.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/types.hpp"

namespace streamframe::kafka {

// librdkafka settings in order; a later entry for a key overrides an earlier one.
using Config = std::vector<std::pair<std::string, std::string>>;

// Builds an rd_kafka_conf_t from `config` (global and default-topic properties alike) with
// the librdkafka log callback routed to the "streamframe" logger. An unknown key or an
// invalid value throws streamframe::ConfigError naming the key and librdkafka's reason.
ConfPtr make_conf(const Config& config);

// Sets `key` to `value`: replaces every existing entry of `key`, else appends.
void set_option(Config& config, std::string_view key, std::string value);

// The effective (last) value of `key`, if set.
std::optional<std::string> get_option(const Config& config, std::string_view key);

// `base` with every entry of `overrides` applied by set_option.
Config merge(Config base, const Config& overrides);

// Whether this librdkafka build knows the property (e.g. fetch.queue.backoff.ms appeared
// after 2.0.2).
bool option_supported(std::string_view key);

// Consumer defaults (SEMANTICS §1): manual commits of explicitly stored offsets, range
// (eager) assignment, read_committed, max.poll.interval.ms 300000, a raised
// queued.min.messages for throughput, and fetch.queue.backoff.ms=100 when supported.
// statistics.interval.ms is left off (0): no statistics callback consumes them yet.
// bootstrap.servers and group.id are not included.
Config default_consumer_config();

// Producer defaults (SEMANTICS §1): partitioner=murmur2 (Java-compatible murmur2 of the key;
// a NULL key hashes as empty and always lands on one fixed partition — murmur2_random would
// spread null keys randomly), enable.idempotence=true, linger.ms=5 and batching/queue
// settings for throughput. statistics.interval.ms is left off (0).
Config default_producer_config();

}  // namespace streamframe::kafka
