// MQTTSource and MQTTSink over libmosquitto. The source drives its client from its own thread
// (mosquitto_loop), so messages are produced on the source's thread and a reconnect is a
// plain loop with backoff; the sink lets libmosquitto's network thread (mosquitto_loop_start)
// send, acknowledge and reconnect, while workers publish and wait for acknowledgements.
#include "streamframe/mqtt.hpp"

#include <fmt/format.h>
#include <mosquitto.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/logging.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {

namespace {

using Clock = std::chrono::steady_clock;

struct MosqDeleter {
  void operator()(mosquitto* m) const noexcept { mosquitto_destroy(m); }
};
using MosqPtr = std::unique_ptr<mosquitto, MosqDeleter>;

void lib_init() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string mosq_error(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

std::string where(const MQTTConnection& c) {
  return "MQTT broker " + c.server + ":" + std::to_string(c.port);
}

void check_connection(const MQTTConnection& c, int qos, const char* who) {
  if (c.client_id.empty()) throw ConfigError(std::string(who) + ": client_id is required");
  if (c.version != "3.1" && c.version != "3.1.1" && c.version != "5") {
    throw ConfigError(std::string(who) + ": unknown MQTT version '" + c.version +
                      "' (expected \"3.1\", \"3.1.1\" or \"5\")");
  }
  if (qos != 0 && qos != 1) {
    throw ConfigError(std::string(who) + ": QoS " + std::to_string(qos) +
                      " is not supported (0 or 1)");
  }
  if (c.reconnect_delay_min.count() <= 0 || c.reconnect_delay_max < c.reconnect_delay_min) {
    throw ConfigError(std::string(who) + ": reconnect delays must be > 0, min <= max");
  }
}

// A client configured from `c` (not connected).
MosqPtr make_client(const MQTTConnection& c, bool clean_session, void* userdata, const char* who) {
  lib_init();
  MosqPtr m(mosquitto_new(c.client_id.c_str(), clean_session, userdata));
  if (!m) throw Error(std::string(who) + ": mosquitto_new failed: " + std::strerror(errno));
  const int protocol = c.version == "3.1"     ? MQTT_PROTOCOL_V31
                       : c.version == "3.1.1" ? MQTT_PROTOCOL_V311
                                              : MQTT_PROTOCOL_V5;
  mosquitto_int_option(m.get(), MOSQ_OPT_PROTOCOL_VERSION, protocol);
  if (!c.username.empty()) {
    mosquitto_username_pw_set(m.get(), c.username.c_str(),
                              c.password.empty() ? nullptr : c.password.c_str());
  }
  if (c.tls_enabled) {
    const int rc = mosquitto_tls_set(
        m.get(), c.tls_ca_file.empty() ? nullptr : c.tls_ca_file.c_str(),
        c.tls_ca_file.empty() ? "/etc/ssl/certs" : nullptr, nullptr, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      throw ConfigError(std::string(who) + ": TLS setup failed: " + mosq_error(rc));
    }
  }
  return m;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MQTTSource

struct MQTTSource::Impl {
  MQTTSourceOptions o;
  MQTTSource* self;
  MosqPtr client;
  int connack = -1;          // the last CONNACK's code, -1 before one
  std::exception_ptr error;  // from the message callback, rethrown by run()
  std::atomic<std::uint64_t> messages{0};
  std::atomic<std::uint64_t> reconnects{0};

  Impl(MQTTSourceOptions options, MQTTSource* s) : o(std::move(options)), self(s) {}

  static void on_connect(mosquitto* m, void* obj, int rc) {
    auto* impl = static_cast<Impl*>(obj);
    impl->connack = rc;
    if (rc != 0) return;
    // Each connection subscribes again: a clean session forgot the subscription.
    const int sub = mosquitto_subscribe(m, nullptr, impl->o.topic.c_str(), impl->o.qos);
    if (sub != MOSQ_ERR_SUCCESS) {
      impl->error = std::make_exception_ptr(
          Error("MQTTSource: cannot subscribe to '" + impl->o.topic + "': " + mosq_error(sub)));
    }
  }

  static void on_message(mosquitto*, void* obj, const mosquitto_message* msg) {
    auto* impl = static_cast<Impl*>(obj);
    if (impl->error) return;
    try {
      impl->produce(*msg);
    } catch (...) {
      impl->error = std::current_exception();  // never through libmosquitto's C frames
    }
  }

  void produce(const mosquitto_message& msg) {
    const std::string_view payload(static_cast<const char*>(msg.payload),
                                   static_cast<std::size_t>(std::max(msg.payloadlen, 0)));
    const MQTTMessage m{msg.topic, payload, msg.qos, msg.retain,
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count()};
    // The defaults look for "_key" and "_timestamp" in an object only: a payload that cannot
    // hold them is not parsed (most of them: the parse would be most of a message's cost).
    const bool user_setters = o.key_setter || o.value_setter || o.timestamp_setter;
    const auto first = payload.find_first_not_of(" \t\r\n");
    const bool may_hold_defaults = first != std::string_view::npos && payload[first] == '{' &&
                                   (payload.find("\"_key\"") != std::string_view::npos ||
                                    payload.find("\"_timestamp\"") != std::string_view::npos);
    Value parsed;
    if (o.parse_payload && (user_setters || may_hold_defaults)) {
      try {
        parsed = Value::from_json(payload);
      } catch (const std::exception&) {
        parsed = Value();  // not JSON: the setters get null, the payload goes on as it is
      }
    }
    Value key;
    if (o.key_setter) {
      key = o.key_setter(m, parsed);
    } else if (const Value* k = parsed.is_object() ? parsed.find("_key") : nullptr) {
      key = *k;
    } else {
      key = Value(std::string(m.topic));
    }
    std::int64_t ts = m.received_ms;
    if (o.timestamp_setter) {
      ts = o.timestamp_setter(m, parsed);
    } else if (const Value* t = parsed.is_object() ? parsed.find("_timestamp") : nullptr) {
      if (t->is_int()) ts = t->as_int();
      if (t->is_double()) ts = static_cast<std::int64_t>(t->as_double());
    }
    // A key that is not a string (a number in "_key") goes as its JSON text.
    std::optional<std::string_view> key_bytes;
    std::string key_text;
    if (key.is_string()) {
      key_bytes = key.as_string();
    } else if (!key.is_null()) {
      key_text = key.to_json();
      key_bytes = key_text;
    }
    if (o.value_setter) {
      SourceMessage v = self->serialize(Value(), o.value_setter(m, parsed));
      self->produce(v.value, key_bytes, v.headers, -1, ts);
    } else {
      self->produce(payload, key_bytes, {}, -1, ts);
    }
    ++messages;
  }

  void connect_or_throw() {
    const auto& c = o.connection;
    const int rc = mosquitto_connect(client.get(), c.server.c_str(), c.port,
                                     static_cast<int>(c.keepalive.count()));
    if (rc != MOSQ_ERR_SUCCESS) {
      throw Error("MQTTSource: cannot connect to " + where(c) + ": " + mosq_error(rc));
    }
    // The CONNACK, read by the loop.
    connack = -1;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (connack < 0 && Clock::now() < deadline) {
      const int lrc = mosquitto_loop(client.get(), 100, 1);
      if (lrc != MOSQ_ERR_SUCCESS) {
        throw Error("MQTTSource: connection to " + where(c) + " lost: " + mosq_error(lrc));
      }
    }
    if (connack != 0) {
      throw Error("MQTTSource: " + where(c) + " refused the connection: " +
                  (connack < 0 ? std::string("no CONNACK within 10 s")
                               : std::string(mosquitto_connack_string(connack))));
    }
  }
};

MQTTSource::MQTTSource(MQTTSourceOptions options)
    : Source(options.connection.client_id, options.shutdown_timeout),
      impl_(std::make_unique<Impl>(std::move(options), this)) {
  check_connection(impl_->o.connection, impl_->o.qos, "MQTTSource");
  if (impl_->o.topic.empty()) throw ConfigError("MQTTSource: topic is required");
}

MQTTSource::~MQTTSource() = default;

void MQTTSource::setup() {
  impl_->error = nullptr;
  impl_->client =
      make_client(impl_->o.connection, impl_->o.clean_session, impl_.get(), "MQTTSource");
  mosquitto_connect_callback_set(impl_->client.get(), &Impl::on_connect);
  mosquitto_message_callback_set(impl_->client.get(), &Impl::on_message);
  impl_->connect_or_throw();
}

void MQTTSource::run() {
  auto& impl = *impl_;
  const auto& c = impl.o.connection;
  auto backoff = c.reconnect_delay_min;
  bool lost = false;
  while (running()) {
    const int rc =
        lost ? mosquitto_reconnect(impl.client.get()) : mosquitto_loop(impl.client.get(), 100, 64);
    if (impl.error) std::rethrow_exception(impl.error);
    if (rc == MOSQ_ERR_SUCCESS) {
      if (lost) {
        ++impl.reconnects;
        detail::logger()->info("MQTTSource '{}': reconnected to {}", name(), where(c));
        lost = false;
        backoff = c.reconnect_delay_min;
      }
      continue;
    }
    if (!lost) {
      detail::logger()->warn("MQTTSource '{}': connection to {} lost ({}); reconnecting", name(),
                             where(c), mosq_error(rc));
      lost = true;
    }
    // Waits in short steps, so stop() is seen at once.
    const auto until = Clock::now() + backoff;
    while (running() && Clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    backoff = std::min(backoff * 2, c.reconnect_delay_max);
  }
}

void MQTTSource::cleanup(bool failed) {
  if (impl_->client) mosquitto_disconnect(impl_->client.get());
  Source::cleanup(failed);
}

TopicOptions MQTTSource::default_topic_options() const {
  TopicOptions t = Source::default_topic_options();
  t.key_serializer = "string";
  t.key_deserializer = "string";
  return t;
}

std::uint64_t MQTTSource::messages() const {
  return impl_->messages.load();
}
std::uint64_t MQTTSource::reconnects() const {
  return impl_->reconnects.load();
}

// ---------------------------------------------------------------------------------------------
// MQTTSink

struct MQTTSink::Impl {
  MQTTSinkOptions o;
  MosqPtr client;
  bool loop_started = false;

  std::mutex mu;
  std::condition_variable cv;
  bool connected = false;
  bool ever_connected = false;
  int connack = -1;
  // Messages not acknowledged (QoS 1) or not written to the connection (QoS 0) yet, by
  // message id: the worker that published each.
  std::unordered_map<int, std::thread::id> inflight;
  struct Worker {
    std::size_t pending = 0;
    bool refused = false;  // a publish found no connection: replay
  };
  std::map<std::thread::id, Worker> workers;
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> reconnects{0};

  explicit Impl(MQTTSinkOptions options) : o(std::move(options)) {}

  ~Impl() {
    if (client && loop_started) {
      mosquitto_disconnect(client.get());
      mosquitto_loop_stop(client.get(), false);
    }
  }

  static void on_connect(mosquitto*, void* obj, int rc) {
    auto* impl = static_cast<Impl*>(obj);
    std::lock_guard lock(impl->mu);
    impl->connack = rc;
    if (rc == 0) {
      if (impl->ever_connected) ++impl->reconnects;
      impl->ever_connected = true;
      impl->connected = true;
    }
    impl->cv.notify_all();
  }
  static void on_disconnect(mosquitto*, void* obj, int rc) {
    auto* impl = static_cast<Impl*>(obj);
    std::lock_guard lock(impl->mu);
    if (impl->connected && rc != 0) {
      detail::logger()->warn("MQTTSink: connection to {} lost ({}); reconnecting",
                             where(impl->o.connection), mosq_error(rc));
    }
    impl->connected = false;
    impl->cv.notify_all();
  }
  static void on_publish(mosquitto*, void* obj, int mid) {
    auto* impl = static_cast<Impl*>(obj);
    std::lock_guard lock(impl->mu);
    auto it = impl->inflight.find(mid);
    if (it == impl->inflight.end()) return;  // dropped by on_paused: it will be published again
    auto w = impl->workers.find(it->second);
    if (w != impl->workers.end() && w->second.pending > 0) --w->second.pending;
    impl->inflight.erase(it);
    ++impl->published;
    impl->cv.notify_all();
  }
};

MQTTSink::MQTTSink(MQTTSinkOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  check_connection(impl_->o.connection, impl_->o.qos, "MQTTSink");
  if (impl_->o.topic_root.empty()) throw ConfigError("MQTTSink: topic_root is required");
  if (impl_->o.retry_after.count() <= 0) throw ConfigError("MQTTSink: retry_after must be > 0");
}

MQTTSink::~MQTTSink() = default;

void MQTTSink::setup() {
  auto& impl = *impl_;
  const auto& c = impl.o.connection;
  impl.client = make_client(c, /*clean_session=*/true, &impl, "MQTTSink");
  mosquitto_connect_callback_set(impl.client.get(), &Impl::on_connect);
  mosquitto_disconnect_callback_set(impl.client.get(), &Impl::on_disconnect);
  mosquitto_publish_callback_set(impl.client.get(), &Impl::on_publish);
  const auto secs = [](std::chrono::milliseconds d) {
    return static_cast<unsigned>(std::max<std::int64_t>(1, (d.count() + 999) / 1000));
  };
  mosquitto_reconnect_delay_set(impl.client.get(), secs(c.reconnect_delay_min),
                                secs(c.reconnect_delay_max), true);
  const int rc = mosquitto_connect(impl.client.get(), c.server.c_str(), c.port,
                                   static_cast<int>(c.keepalive.count()));
  if (rc != MOSQ_ERR_SUCCESS) {
    throw Error("MQTTSink: cannot connect to " + where(c) + ": " + mosq_error(rc));
  }
  const int lrc = mosquitto_loop_start(impl.client.get());
  if (lrc != MOSQ_ERR_SUCCESS)
    throw Error("MQTTSink: cannot start its network thread: " + mosq_error(lrc));
  impl.loop_started = true;
  std::unique_lock lock(impl.mu);
  impl.cv.wait_for(lock, std::chrono::seconds(10), [&] { return impl.connack >= 0; });
  if (impl.connack != 0) {
    throw Error("MQTTSink: " + where(c) + " refused the connection: " +
                (impl.connack < 0 ? std::string("no CONNACK within 10 s")
                                  : std::string(mosquitto_connack_string(impl.connack))));
  }
}

void MQTTSink::add(const Value& value, const Value& key, std::int64_t, const Headers&,
                   const std::string&, std::int32_t, std::int64_t) {
  auto& impl = *impl_;
  std::string suffix;
  if (impl.o.key_serializer) {
    suffix = impl.o.key_serializer(key);
  } else if (key.is_string()) {
    suffix = key.as_string();
  } else if (key.is_null()) {
    throw ValueTypeError("MQTTSink: a record without a key has no topic (<topic_root>/<key>)");
  } else {
    suffix = key.to_json();
  }
  const std::string topic = impl.o.topic_root + "/" + suffix;
  const std::string payload =
      impl.o.value_serializer ? impl.o.value_serializer(value) : value.to_json();
  const bool retain = impl.o.retain_fn ? impl.o.retain_fn(value) : impl.o.retain;
  std::lock_guard lock(impl.mu);
  auto& me = impl.workers[std::this_thread::get_id()];
  int mid = 0;
  const int rc =
      mosquitto_publish(impl.client.get(), &mid, topic.c_str(), static_cast<int>(payload.size()),
                        payload.data(), impl.o.qos, retain);
  if (rc == MOSQ_ERR_SUCCESS) {
    // QoS 0 too: libmosquitto calls on_publish once such a message is written to the
    // connection, so flush() does not let offsets commit while it is still in its queue.
    impl.inflight.emplace(mid, std::this_thread::get_id());
    ++me.pending;
    return;
  }
  if (rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_ERRNO) {
    me.refused = true;  // flush() asks for the replay
    return;
  }
  throw Error("MQTTSink: cannot publish to '" + topic + "': " + mosq_error(rc));
}

void MQTTSink::flush() {
  auto& impl = *impl_;
  std::unique_lock lock(impl.mu);
  auto& me = impl.workers[std::this_thread::get_id()];
  impl.cv.wait_for(lock, impl.o.flush_timeout, [&] { return me.pending == 0 || !impl.connected; });
  if (me.pending == 0 && !me.refused) return;
  const std::string why = me.refused || !impl.connected
                              ? "the broker is not connected"
                              : fmt::format("{} messages not acknowledged within {} ms", me.pending,
                                            impl.o.flush_timeout.count());
  throw SinkBackpressureError(impl.o.retry_after,
                              "MQTTSink: " + where(impl.o.connection) + ": " + why);
}

void MQTTSink::on_paused() {
  auto& impl = *impl_;
  std::lock_guard lock(impl.mu);
  const auto me = std::this_thread::get_id();
  std::erase_if(impl.inflight, [&](const auto& entry) { return entry.second == me; });
  impl.workers[me] = {};
}

std::uint64_t MQTTSink::published() const {
  return impl_->published.load();
}
std::uint64_t MQTTSink::reconnects() const {
  return impl_->reconnects.load();
}

}  // namespace streamframe
