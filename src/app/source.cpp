#include "streamframe/source.hpp"

#include <cxxabi.h>

#include <atomic>
#include <utility>

#include "app/producer_factory.hpp"
#include "app/source_runner.hpp"
#include "app/source_store.hpp"
#include "core/logging.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/producer.hpp"

namespace streamframe {

struct Source::Runtime {
  Runtime(Topic t, Producer p) : topic(std::move(t)), producer(std::move(p)) {}
  Topic topic;
  // Closed when the source's thread ends: a source kept after its run holds no connection.
  std::optional<Producer> producer;
  // Set while a thread runs the source, also one left behind after its shutdown timeout.
  std::atomic<bool> thread_alive{false};
  // StatefulSource only (SRC-03).
  std::shared_ptr<detail::SourceStore> store;
  std::optional<SourceState> state;
  std::chrono::milliseconds restore_timeout{60000};
  std::atomic<bool> running{false};
  // Reused for serialize(): a source's thread serializes one record at a time.
  mutable std::string key_buf;
  mutable std::string value_buf;
};

Source::Source(std::string name, std::chrono::milliseconds shutdown_timeout)
    : name_(std::move(name)), shutdown_timeout_(shutdown_timeout) {
  if (name_.empty()) throw ConfigError("a source needs a name");
  if (shutdown_timeout_.count() < 0) throw ConfigError("shutdown_timeout must be >= 0");
}

Source::~Source() = default;

void Source::on_client_connect_failure(std::exception_ptr error) {
  std::rethrow_exception(error);
}

void Source::cleanup(bool failed) {
  if (!failed) flush(shutdown_timeout_ / 2);
}

void Source::stop() {
  if (runtime_) runtime_->running = false;
}

TopicOptions Source::default_topic_options() const {
  return TopicOptions{};
}

bool Source::running() const noexcept {
  return runtime_ && runtime_->running.load(std::memory_order_relaxed);
}

const Topic& Source::topic() const {
  if (!runtime_) {
    throw InvalidOperation("source '" + name_ +
                           "' has no topic before it is added to an "
                           "application");
  }
  return runtime_->topic;
}

SourceMessage Source::serialize(const Value& key, const Value& value, const Headers& headers,
                                std::int64_t timestamp) const {
  const auto& def = topic().definition();
  SourceMessage out;
  out.timestamp = timestamp;
  out.headers = headers;
  if (!key.is_null()) {
    def.key_serializer->serialize(key, runtime_->key_buf);
    out.key = runtime_->key_buf;
  }
  if (!value.is_null()) {
    def.value_serializer->serialize(value, runtime_->value_buf);
    out.value = runtime_->value_buf;
  }
  // TOP-13: as to_topic() does, the value serializer's extra headers follow the record's own.
  for (auto& h : def.value_serializer->extra_headers()) out.headers.push_back(std::move(h));
  return out;
}

namespace {
Producer& producer_of(const std::string& name, const std::shared_ptr<Source::Runtime>& runtime) {
  if (!runtime) {
    throw InvalidOperation("source '" + name +
                           "' has no topic before it is added to an "
                           "application");
  }
  if (!runtime->producer) {
    throw InvalidOperation("source '" + name + "' is not running: its producer is closed");
  }
  return *runtime->producer;
}
}  // namespace

void Source::produce(std::optional<std::string_view> value, std::optional<std::string_view> key,
                     const Headers& headers, std::int32_t partition, std::int64_t timestamp) {
  producer_of(name_, runtime_)
      .produce(runtime_->topic.name(), key, value, timestamp, headers, partition);
}

void Source::produce(const SourceMessage& message, std::int32_t partition) {
  produce(message.value ? std::optional<std::string_view>(*message.value) : std::nullopt,
          message.key ? std::optional<std::string_view>(*message.key) : std::nullopt,
          message.headers, partition, message.timestamp);
}

void Source::flush(std::chrono::milliseconds timeout) {
  if (!producer_of(name_, runtime_).flush(timeout)) {
    throw CheckpointProducerTimeout("source '" + name_ + "': the producer did not deliver " +
                                    "everything within " + std::to_string(timeout.count()) + " ms");
  }
}

Value SourceState::get(const Value& key, Value default_value) const {
  return store_->get(key, std::move(default_value));
}
void SourceState::set(const Value& key, const Value& value) {
  store_->set(key, value);
}
void SourceState::remove(const Value& key) {
  store_->remove(key);
}
bool SourceState::exists(const Value& key) const {
  return store_->exists(key);
}

SourceState& StatefulSource::state() {
  if (!runtime_ || !runtime_->store) {
    throw InvalidOperation("source '" + name() +
                           "': its state exists once the source was added to an application");
  }
  if (!runtime_->state) runtime_->state.emplace(SourceState(*runtime_->store));
  return *runtime_->state;
}

void StatefulSource::flush(std::chrono::milliseconds timeout) {
  // The records first: a state written before them could claim records a crash then lost.
  Source::flush(timeout);
  if (!runtime_->store) return;
  const auto changes = runtime_->store->take_changes();
  if (changes.empty()) return;
  for (const auto& [key, value] : changes) {
    producer_of(name(), runtime_)
        .produce(runtime_->store->changelog(), key,
                 value ? std::optional<std::string_view>(*value) : std::nullopt, 0, {}, 0);
  }
  Source::flush(timeout);
}

namespace detail {

void SourceAccess::configure(Source& source, const Topic& topic,
                             const kafka::Config& producer_config,
                             std::shared_ptr<SourceStore> store,
                             std::chrono::milliseconds restore_timeout) {
  if (source.runtime_ && source.runtime_->thread_alive) {
    throw InvalidOperation("source '" + source.name() +
                           "' is still running (a thread that did not stop in time, or another "
                           "application's)");
  }
  source.runtime_ = std::make_shared<Source::Runtime>(topic, make_producer(producer_config));
  source.runtime_->store = std::move(store);
  source.runtime_->restore_timeout = restore_timeout;
}

void SourceAccess::restore(Source& source) {
  if (source.runtime_->store) source.runtime_->store->restore(source.runtime_->restore_timeout);
}

void SourceAccess::set_running(Source& source, bool running) {
  source.runtime_->running = running;
  if (running) source.runtime_->thread_alive = true;
}

void SourceAccess::thread_ended(Source& source, const std::shared_ptr<Source::Runtime>& runtime) {
  runtime->running = false;
  try {
    runtime->producer.reset();  // flushes what cleanup did not, as any Producer does
  } catch (const std::exception& e) {
    logger()->error("source '{}': closing its producer failed: {}", source.name(), e.what());
  }
  runtime->thread_alive = false;
}

SourceRunner::SourceRunner(std::shared_ptr<Source> source, std::function<void()> on_failure)
    : source_(std::move(source)), shared_(std::make_shared<Shared>()) {
  shared_->source = source_;
  shared_->on_failure = std::move(on_failure);
}

SourceRunner::~SourceRunner() {
  try {
    stop();
  } catch (const std::exception& e) {
    logger()->error("source '{}': stopping it failed: {}", source_->name(), e.what());
  }
}

void SourceRunner::start() {
  SourceAccess::set_running(*source_, true);
  thread_ = std::thread([shared = shared_] { body(shared); });
}

void SourceRunner::body(const std::shared_ptr<Shared>& shared) {
  Source& source = *shared->source;
  // Held to the end even if the application lets go of the source.
  const auto runtime = SourceAccess::runtime(source);
  std::exception_ptr error;
  try {
    // SRC-03: a stateful source sees its state from the start.
    SourceAccess::restore(source);
    try {
      source.setup();
      // As in Quix Streams, a throw of the success callback is a connection failure too.
      source.on_client_connect_success();
    } catch (abi::__forced_unwind&) {
      throw;
    } catch (...) {
      // May resolve the failure and return: run() goes ahead then, as in Quix Streams.
      source.on_client_connect_failure(std::current_exception());
    }
    source.run();
  } catch (abi::__forced_unwind&) {
    throw;  // the thread is being cancelled (e.g. an interpreter exiting): let it end
  } catch (...) {
    error = std::current_exception();
  }
  try {
    source.cleanup(error != nullptr);
  } catch (abi::__forced_unwind&) {
    throw;
  } catch (...) {
    if (error == nullptr) error = std::current_exception();
  }
  SourceAccess::thread_ended(source, runtime);
  if (error != nullptr) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      logger()->error("source '{}' failed: {}", source.name(), e.what());
    } catch (...) {
      logger()->error("source '{}' failed with an exception of unknown type", source.name());
    }
  } else {
    logger()->info("source '{}' finished", source.name());
  }
  {
    std::lock_guard lock(shared->mutex);
    if (shared->error == nullptr) shared->error = error;
    shared->done = true;
    // Not once the runner let go of the thread: the application may be gone.
    if (error != nullptr && shared->on_failure && !shared->detached) shared->on_failure();
  }
  shared->done_cv.notify_all();
}

void SourceRunner::stop() {
  if (stopped_ || !thread_.joinable()) return;
  stopped_ = true;
  try {
    source_->stop();
  } catch (...) {
    // Quix Streams fails the source when its stop() raises: run() throws SourceException.
    std::lock_guard lock(shared_->mutex);
    if (shared_->error == nullptr) shared_->error = std::current_exception();
  }
  std::unique_lock lock(shared_->mutex);
  const bool done = shared_->done_cv.wait_for(lock, source_->shutdown_timeout(),
                                              [this] { return shared_->done; });
  if (!done) shared_->detached = true;
  lock.unlock();
  if (done) {
    thread_.join();
    return;
  }
  logger()->error(
      "source '{}' did not stop within its shutdown timeout ({} ms); it is left running in "
      "the background and what it produces from now on may be lost",
      source_->name(), source_->shutdown_timeout().count());
  thread_.detach();
}

bool SourceRunner::alive() const {
  if (!thread_.joinable()) return false;
  std::lock_guard lock(shared_->mutex);
  return !shared_->done;
}

std::exception_ptr SourceRunner::error() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->error;
}

}  // namespace detail
}  // namespace streamframe
