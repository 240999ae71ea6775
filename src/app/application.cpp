#include "streamframe/application.hpp"

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "app/access.hpp"
#include "app/config_reference.hpp"
#include "app/consumer_factory.hpp"
#include "app/health.hpp"
#include "app/metrics.hpp"
#include "app/operations_server.hpp"
#include "app/process_identity.hpp"
#include "app/producer_factory.hpp"
#include "app/source_runner.hpp"
#include "app/topic_catalog.hpp"
#include "app/worker.hpp"
#include "core/logging.hpp"
#include "dataframe/access.hpp"
#include "dataframe/graph.hpp"
#include "kafka/admin.hpp"
#include "kafka/codes.hpp"
#include "kafka/mock_cluster.hpp"
#include "kafka/oauth.hpp"
#include "state/provider.hpp"
#include "state/store.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/test_driver.hpp"

namespace streamframe {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : std::move(fallback);
}

// Client settings the application owns; extra config may not override them (APP-17).
const std::unordered_set<std::string>& reserved_keys() {
  static const std::unordered_set<std::string> keys{"bootstrap.servers", "group.id",
                                                    "auto.offset.reset", "metadata.broker.list"};
  return keys;
}

void apply_extra(kafka::Config& config, const std::map<std::string, std::string>& extra,
                 const char* which) {
  for (const auto& [k, v] : extra) {
    if (reserved_keys().count(k)) {
      detail::logger()->warn("{} '{}' is set by the application and was ignored", which, k);
      continue;
    }
    if (k == "partition.assignment.strategy") {
      detail::logger()->warn("{} '{}': the assignment strategy stays 'range'", which, k);
      continue;
    }
    kafka::set_option(config, k, v);
  }
}

// The application whose run() is active, for the signal handlers (one at a time).
std::atomic<Application::Impl*> g_signal_target{nullptr};
std::atomic<int> g_sigint_count{0};

}  // namespace

class Application::Impl {
 public:
  explicit Impl(ApplicationConfig config) : config_(std::move(config)) {
    detail::configure_logging(config_.loglevel, config_.log_format == LogFormat::json);
    if (config_.connection) {
      if (!config_.broker_address.empty() &&
          config_.broker_address != config_.connection->bootstrap_servers) {
        throw ConfigError(
            "broker_address and connection.bootstrap_servers are both set and differ; set one");
      }
      config_.broker_address = config_.connection->bootstrap_servers;
      connection_ = config_.connection->to_librdkafka();  // checks it
      connection_.erase("bootstrap.servers");
      if (config_.connection->oauth_token_callback) {
        token_source_ = kafka::OAuthTokenSource::create(config_.connection->oauth_token_callback);
      }
    }
    config_.broker_address = config_.broker_address.empty()
                                 ? env_or("STREAMFRAME_BROKER_ADDRESS", "")
                                 : config_.broker_address;
    if (config_.broker_address.empty()) {
      throw ConfigError(
          "broker_address is required (or set STREAMFRAME_BROKER_ADDRESS); use \"embedded\" for "
          "the in-process broker");
    }
    if (config_.consumer_group.empty()) {
      config_.consumer_group = env_or("STREAMFRAME_CONSUMER_GROUP", "streamframe-default");
    }
    if (config_.state_dir.empty()) config_.state_dir = env_or("STREAMFRAME_STATE_DIR", "state");
    if (config_.commit_every < 0) throw ConfigError("commit_every must be >= 0");
    if (config_.request_timeout.count() <= 0) throw ConfigError("request_timeout must be > 0");
    if (config_.consumer_poll_timeout.count() < 0)
      throw ConfigError("consumer_poll_timeout must be >= 0");
    if (config_.producer_poll_timeout.count() < 0)
      throw ConfigError("producer_poll_timeout must be >= 0 (0 = do not wait)");
    if (config_.broker_availability_timeout.count() < 0)
      throw ConfigError("broker_availability_timeout must be >= 0 (0 = off)");
    if (config_.state_memory_budget < 16 * RocksDBOptions::kMiB) {
      throw ConfigError("state_memory_budget must be at least 16 MiB, got " +
                        std::to_string(config_.state_memory_budget) + " bytes");
    }
    if (config_.max_partition_buffer_size == 0) {
      throw ConfigError("max_partition_buffer_size must be >= 1");
    }
    if (config_.num_workers < 1) {
      throw ConfigError("num_workers must be >= 1, got " + std::to_string(config_.num_workers));
    }
    if (config_.metrics_port < 0 || config_.metrics_port > 65535) {
      throw ConfigError("metrics_port must be 0 (off) or a TCP port up to 65535, got " +
                        std::to_string(config_.metrics_port));
    }
    // The endpoints start with the first run(), often on a thread of the program's: civetweb's
    // one-time set-up happens here, on the constructing thread, so that it cannot race with
    // the program's own first use of civetweb (EXT-08).
    if (config_.metrics_port != 0) detail::OperationsServer::init_library();
    if (config_.liveness_timeout.count() <= 0) throw ConfigError("liveness_timeout must be > 0");
    if (std::filesystem::exists(config_.state_dir) &&
        !std::filesystem::is_directory(config_.state_dir)) {
      throw ConfigError("state_dir '" + config_.state_dir + "' is not a directory");
    }
    if (config_.dead_letter_topic) {
      try {
        (void)Topic::make(*config_.dead_letter_topic, detail::TopicCatalog::dead_letter_options());
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("dead_letter_topic: ") + e.what());
      }
    }
    embedded_ = config_.broker_address == "embedded";
    if (embedded_) {
      if (config_.processing_guarantee == ProcessingGuarantee::exactly_once) {
        throw ConfigError(
            "exactly_once is not available on the embedded broker: it does not filter aborted "
            "transactions; use a real Kafka broker");
      }
      mock_ = std::make_unique<kafka::MockCluster>(1);
      stores_ = std::make_unique<state::MemoryProvider>(config_.state_memory_budget);
      bootstrap_ = mock_->bootstrap_servers();
      detail::logger()->warn(
          "using the embedded in-memory broker at {}: it lacks read-committed filtering of "
          "aborted transactions, an admin API and compaction, and loses everything at exit",
          bootstrap_);
    } else {
      bootstrap_ = config_.broker_address;
      stores_ = std::make_unique<state::RocksDBProvider>(config_.state_dir, config_.consumer_group,
                                                         config_.rocksdb_options,
                                                         config_.state_memory_budget);
    }
    topics_.emplace(
        detail::TopicCatalogSettings{bootstrap_, common_config(), config_.consumer_group,
                                     config_.request_timeout, config_.topic_create_timeout,
                                     config_.auto_create_topics},
        mock_.get());
  }

  ~Impl() {
    Impl* self = this;
    g_signal_target.compare_exchange_strong(self, nullptr);
  }

  kafka::Config common_config() const {
    kafka::Config c{{"bootstrap.servers", bootstrap_}};
    c.emplace_back("client.id", "streamframe-" + config_.consumer_group);
    for (const auto& [k, v] : connection_) c.emplace_back(k, v);  // APP-17
    if (token_source_) c.emplace_back(kafka::kOAuthTokenSourceKey, token_source_->id());
    return c;
  }

  kafka::Config consumer_config() const {
    kafka::Config c = kafka::merge(kafka::default_consumer_config(), common_config());
    kafka::set_option(c, "group.id", config_.consumer_group);
    kafka::set_option(c, "enable.partition.eof", "false");
    kafka::set_option(c, "fetch.wait.max.ms", "100");
    if (embedded_) c = kafka::merge(std::move(c), kafka::embedded_consumer_overrides());
    kafka::set_option(c, "auto.offset.reset", detail::offset_reset_name(config_.auto_offset_reset));
    apply_extra(c, config_.consumer_extra_config, "consumer_extra_config");
    return c;
  }

  kafka::Config producer_config() const {
    kafka::Config c = kafka::merge(kafka::default_producer_config(), common_config());
    kafka::set_option(c, "request.timeout.ms", std::to_string(config_.request_timeout.count()));
    apply_extra(c, config_.producer_extra_config, "producer_extra_config");
    return c;
  }

  bool exactly_once() const {
    return config_.processing_guarantee == ProcessingGuarantee::exactly_once;
  }

  kafka::Config worker_producer_config(int index) {
    kafka::Config c = producer_config();
    if (exactly_once()) {
      std::string id;
      for (const auto& [k, v] : c) {
        if (k == "transactional.id") id = v;
      }
      id = id.empty() ? default_transactional_id() : id;
      if (index > 0) id += "-w" + std::to_string(index);
      kafka::set_option(c, "transactional.id", id);
      if (!config_.producer_extra_config.count("transaction.timeout.ms")) {
        // A killed instance's open transaction blocks read_committed readers (and changelog
        // recovery) until the coordinator times it out: keep that short, as Kafka Streams does.
        // A restart on the same state directory does not wait for it (CK-05: it fences).
        kafka::set_option(c, "transaction.timeout.ms", "10000");
      }
    }
    if (config_.num_workers > 1) {
      kafka::set_option(c, "client.id",
                        "streamframe-" + config_.consumer_group + "-w" + std::to_string(index));
    }
    return c;
  }

  // CK-05: `<consumer_group>-<process id>`, the process id kept in the state directory, so a
  // restarted process fences its predecessor's transactional producers at start.
  std::string default_transactional_id() {
    if (!identity_ && !identity_failed_) {
      const auto dir = std::filesystem::path(config_.state_dir) / config_.consumer_group;
      try {
        identity_.emplace(detail::ProcessIdentity::acquire(dir));
        detail::logger()->info(
            "exactly-once: process id {} ({} {}): {}", identity_->id(),
            identity_->created() ? "new, kept in" : "from", identity_->file().string(),
            identity_->created()
                ? "a later restart on this state directory fences this instance's transactions"
                : "a predecessor's open transaction is aborted at start");
      } catch (const Error& e) {
        identity_failed_ = true;
        detail::logger()->warn(
            "exactly-once: no process id can be kept in '{}' ({}); using a random "
            "transactional id: after a crash, read_committed readers of this app's outputs and "
            "changelogs wait up to transaction.timeout.ms",
            dir.string(), e.what());
      }
    }
    if (!identity_) {
      if (random_id_.empty()) random_id_ = detail::random_uuid();
      return config_.consumer_group + "-" + random_id_;
    }
    return config_.consumer_group + "-" + identity_->id();
  }

  void clear_state() {
    if (running_) throw InvalidOperation("clear_state() while the application is running");
    if (mock_) {
      static_cast<state::MemoryProvider&>(*stores_).clear();
      return;
    }
    const auto dir = std::filesystem::path(config_.state_dir) / config_.consumer_group;
    // The process id goes with the directory: the next run takes a new one.
    identity_.reset();
    identity_failed_ = false;
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) throw Error("clear_state(): cannot delete '" + dir.string() + "': " + ec.message());
    detail::logger()->info("deleted the state directory '{}'", dir.string());
  }

  std::vector<std::string> delete_internal_topics() {
    if (running_) {
      throw InvalidOperation("delete_internal_topics() while the application is running");
    }
    if (embedded_) {
      throw InvalidOperation(
          "delete_internal_topics(): the embedded broker has no admin API (its topics go at "
          "exit)");
    }
    std::vector<std::string> source_changelogs;
    for (const auto& s : sources_) {
      if (!s.changelog.empty()) source_changelogs.push_back(s.changelog);
    }
    return topics_->delete_internal_topics(graphs_, source_changelogs);
  }

  Topic topic(std::string name, const TopicOptions& options) {
    return topics_->ensure(std::move(name), options);
  }

  StreamingDataFrame dataframe(const Topic& topic) {
    for (const auto& g : graphs_) {
      if (g->topic().name() == topic.name()) {
        throw ConfigError("topic '" + topic.name() +
                          "' already has a dataframe; branch it instead");
      }
    }
    auto graph = std::make_shared<detail::Graph>(topic, std::string(), graph_env());
    graph->clock = config_.clock;
    graphs_.push_back(graph);
    return detail::Access::frame(graph, graph->root());
  }

  Topic add_source(std::shared_ptr<Source> source, std::optional<Topic> topic) {
    if (!source) throw ConfigError("add_source(): the source is null");
    for (const auto& s : sources_) {
      if (s.source == source) {
        throw ConfigError("source '" + source->name() + "' was already added");
      }
      if (s.source->name() == source->name()) {
        throw ConfigError("a source named '" + source->name() + "' was already added");
      }
    }
    Topic t = topic ? *topic
                    : topics_->ensure("source__" + source->name(), source->default_topic_options());
    std::string changelog;
    if (dynamic_cast<StatefulSource*>(source.get()) != nullptr) {
      // SRC-03: one partition, compacted: the state is the last record of each key.
      changelog = topics_->changelog_name("source__" + source->name(), "default");
      TopicOptions options;
      options.config = TopicConfig{1, 1, {{"cleanup.policy", "compact"}}};
      (void)topics_->ensure(changelog, options, true);
    }
    sources_.push_back({std::move(source), t, std::move(changelog)});
    return t;
  }

  // SRC-01: a source's producer is never transactional, whatever the guarantee.
  kafka::Config source_producer_config() const {
    kafka::Config c;
    for (auto& [k, v] : producer_config()) {
      if (k != "transactional.id") c.emplace_back(k, v);
    }
    return c;
  }

  // The sources of one run(): started once, stopped when the run ends however it ends.
  class RunSources {
   public:
    explicit RunSources(Impl& app) {
      for (const auto& entry : app.sources_) {
        std::shared_ptr<detail::SourceStore> store;
        if (!entry.changelog.empty()) {
          kafka::Config consumer = app.common_config();
          apply_extra(consumer, app.config_.consumer_extra_config, "consumer_extra_config");
          kafka::set_option(consumer, "group.id", app.config_.consumer_group + "-source-restore");
          store = std::make_shared<detail::SourceStore>(entry.changelog, std::move(consumer));
        }
        detail::SourceAccess::configure(*entry.source, entry.topic, app.source_producer_config(),
                                        std::move(store), 2 * app.config_.request_timeout);
        // A failed source stops the application gracefully (SRC-04).
        runners_.push_back(
            std::make_unique<detail::SourceRunner>(entry.source, [&app] { app.stop_ = true; }));
      }
    }
    ~RunSources() { stop(); }
    void start() {
      std::lock_guard lock(mutex_);
      if (started_) return;
      started_ = true;
      for (auto& r : runners_) r->start();
    }
    void stop() {
      std::lock_guard lock(mutex_);
      for (auto& r : runners_) r->stop();
    }
    bool alive() const {
      for (const auto& r : runners_) {
        if (r->alive()) return true;
      }
      return false;
    }
    // The first failed source's error as a SourceException, or nothing.
    void rethrow() const {
      for (const auto& r : runners_) {
        if (auto error = r->error()) {
          std::string what = "unknown error";
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          throw SourceException("source '" + r->source().name() + "' failed: " + what,
                                r->source().name(), error);
        }
      }
    }
    bool empty() const { return runners_.empty(); }

   private:
    std::mutex mutex_;
    bool started_ = false;
    std::vector<std::unique_ptr<detail::SourceRunner>> runners_;
  };

  // Sources alone (SRC-01): they start at once and run until they all return, a stop or the
  // timeout.
  void run_sources_only(RunSources& sources, const RunOptions& options) {
    const auto start = std::chrono::steady_clock::now();
    sources.start();
    while (!stop_ && sources.alive()) {
      if (options.timeout.count() > 0 &&
          std::chrono::steady_clock::now() - start >= options.timeout) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    sources.stop();
  }

  // What group_by needs of the application: repartition topics on its broker, and the graphs
  // they feed run by its workers. The graphs hold it only while the pipeline is being
  // declared (group_by calls it), which the Application outlives.
  std::shared_ptr<detail::GraphEnv> graph_env() {
    if (env_) return env_;
    env_ = std::make_shared<detail::GraphEnv>();
    env_->group = config_.consumer_group;
    env_->internal_topic = [this](const std::string& name, const TopicOptions& options) {
      return topics_->ensure(name, options, true);
    };
    env_->add_graph = [this](const std::shared_ptr<detail::Graph>& graph) {
      for (const auto& g : graphs_) {
        if (g->topic().name() == graph->topic().name()) {
          throw ConfigError("topic '" + graph->topic().name() + "' already has a dataframe");
        }
      }
      graphs_.push_back(graph);
    };
    return env_;
  }

  std::vector<Value> run(RunOptions options) {
    if (options.output_labels != nullptr) options.output_labels->clear();
    if (graphs_.empty() && sources_.empty()) {
      throw ConfigError("run(): no dataframe or source was declared");
    }
    if (graphs_.empty() && options.count > 0) {
      throw ConfigError(
          "run(count): sources alone produce no outputs to count; stop them with a timeout or "
          "stop()");
    }
    if (running_.exchange(true)) throw InvalidOperation("run() is already running");
    struct Running {
      std::atomic<bool>& flag;
      ~Running() { flag = false; }
    } running_guard{running_};
    serve_operations();
    if (!health_) return run_running(options);
    health_->run_started(!graphs_.empty());
    try {
      auto result = run_running(options);
      health_->run_ended({});
      return result;
    } catch (const std::exception& e) {
      health_->run_ended(e.what());
      throw;
    } catch (...) {
      health_->run_ended("an unknown error");
      throw;
    }
  }

  // EXT-08: the metrics and health endpoints, from the first run() on.
  void serve_operations() {
    if (config_.metrics_port == 0 || operations_) return;
    metrics_ = std::make_unique<detail::Metrics>();
    health_ = std::make_unique<detail::Health>(config_.liveness_timeout);
    using Response = detail::OperationsServer::Response;
    const auto health_response = [](const detail::Health::Answer& a) {
      return Response{a.ok ? 200 : 503, "application/json", a.body + "\n"};
    };
    operations_ = std::make_unique<detail::OperationsServer>(
        config_.metrics_bind_address, config_.metrics_port,
        [m = metrics_.get()] {
          return Response{200, "text/plain; version=0.0.4; charset=utf-8", m->scrape()};
        },
        [h = health_.get(), health_response] { return health_response(h->live()); },
        [h = health_.get(), health_response] { return health_response(h->ready()); });
  }

  // run() once it holds the running flag.
  std::vector<Value> run_running(const RunOptions& options) {
    stop_ = false;
    stop_fail_ = false;
    SignalScope signals(this, config_.install_signal_handlers);
    RunSources sources(*this);
    if (graphs_.empty()) {
      run_sources_only(sources, options);
      if (interrupted_) throw Interrupted("interrupted by a second SIGINT");
      sources.rethrow();
      return {};
    }

    if (!topics_->reachable()) {
      throw KafkaBrokerUnavailableError(kafka::code::transport,
                                        "no Kafka broker reachable at '" + bootstrap_ +
                                            "' within " +
                                            std::to_string(config_.request_timeout.count()) + " ms",
                                        true, false);
    }
    std::vector<std::unique_ptr<detail::Worker>> workers;
    bool stateful = false;
    for (const auto& g : graphs_) stateful = stateful || g->stateful();
    if (stateful && !embedded_) {
      state::ensure_writable_dir(std::filesystem::path(config_.state_dir) / config_.consumer_group);
    }
    topics_->check_in_place_group_by(graphs_);
    topics_->check_co_partitioned(graphs_);
    if (config_.dead_letter_topic)
      topics_->prepare_dead_letter_topic(*config_.dead_letter_topic, graphs_);
    const auto changelogs = stateful && config_.use_changelog_topics
                                ? topics_->prepare_changelogs(graphs_)
                                : detail::ChangelogMap{};
    for (int i = 0; i < config_.num_workers; ++i) {
      detail::WorkerSettings settings;
      settings.consumer_config = consumer_config();
      if (config_.num_workers > 1) {
        kafka::set_option(settings.consumer_config, "client.id",
                          "streamframe-" + config_.consumer_group + "-w" + std::to_string(i));
      }
      settings.producer_config = worker_producer_config(i);
      settings.app = &config_;
      settings.graphs = graphs_;
      settings.stores = stores_.get();
      settings.changelogs = changelogs;
      settings.restore_config = common_config();
      // Security and other client settings apply to the recovery consumer too.
      apply_extra(settings.restore_config, config_.consumer_extra_config, "consumer_extra_config");
      // Recovery assigns partitions itself and never commits; the id only satisfies librdkafka.
      kafka::set_option(settings.restore_config, "group.id", config_.consumer_group + "-restore");
      settings.exactly_once = exactly_once();
      settings.report_partition_ends = options.timeout.count() > 0;
      settings.index = i;
      settings.metrics = metrics_.get();
      settings.health = health_.get();
      if (embedded_) {
        // Partitions are dealt to the workers by partition number (TOP-15: one number of
        // every topic goes to one worker, as the range assignor does); the mock has no group
        // protocol.
        for (const auto& g : graphs_) {
          for (int p = 0; p < g->topic().config().num_partitions; ++p) {
            if (p % config_.num_workers == i) {
              settings.static_assignment.push_back({g->topic().name(), p});
            }
          }
        }
        if (settings.static_assignment.empty()) continue;
      }
      workers.push_back(std::make_unique<detail::Worker>(std::move(settings)));
    }
    detail::RunState state;
    state.options = options;
    if (!sources.empty()) state.on_first_assignment = [&sources] { sources.start(); };
    std::exception_ptr first_error;
    if (workers.size() == 1) {
      try {
        workers[0]->run(state, stop_, stop_fail_);
      } catch (...) {
        first_error = std::current_exception();
      }
    } else {
      // EXT-06: an error in one worker stops the others gracefully (they commit).
      std::mutex error_mutex;
      std::vector<std::thread> threads;
      threads.reserve(workers.size());
      for (auto& w : workers) {
        threads.emplace_back([&, worker = w.get()] {
          try {
            worker->run(state, stop_, stop_fail_);
          } catch (...) {
            std::lock_guard lock(error_mutex);
            if (!first_error) first_error = std::current_exception();
            stop_ = true;
          }
          // A worker that reached the run limit ends the others too.
          if (state.limit_reached) stop_ = true;
        });
      }
      for (auto& t : threads) t.join();
    }
    for (auto& w : workers) accumulate(*w);
    // Closing leaves the group; a failed worker closes without committing.
    workers.clear();
    sources.stop();
    if (interrupted_) throw Interrupted("interrupted by a second SIGINT; nothing was committed");
    if (first_error) std::rethrow_exception(first_error);
    sources.rethrow();
    return std::move(state.collected);
  }

  void accumulate(const detail::Worker& worker) {
    auto s = worker.stats();
    stats_.messages_consumed += s.messages_consumed;
    stats_.rows_processed += s.rows_processed;
    stats_.records_produced += s.records_produced;
    stats_.errors_skipped += s.errors_skipped;
    stats_.dead_lettered += s.dead_lettered;
    stats_.checkpoints += s.checkpoints;
    stats_.checkpoints_aborted += s.checkpoints_aborted;
    stats_.checkpoints_deferred += s.checkpoints_deferred;
    stats_.null_keys_skipped += s.null_keys_skipped;
  }

  void stop(bool fail) {
    if (fail) stop_fail_ = true;
    stop_ = true;
  }

  void on_signal(int sig) {
    if (sig == SIGINT && g_sigint_count.fetch_add(1) >= 1) {
      interrupted_ = true;
      stop(true);
      return;
    }
    stop(false);
  }

  // Installs SIGINT/SIGTERM handlers for the duration of run() (APP-21).
  class SignalScope {
   public:
    SignalScope(Impl* impl, bool enabled) : enabled_(enabled) {
      if (!enabled_) return;
      g_sigint_count = 0;
      g_signal_target = impl;
      struct sigaction sa {};
      sa.sa_handler = [](int sig) {
        if (auto* target = g_signal_target.load()) target->on_signal(sig);
      };
      sigemptyset(&sa.sa_mask);
      sigaction(SIGINT, &sa, &old_int_);
      sigaction(SIGTERM, &sa, &old_term_);
    }
    ~SignalScope() {
      if (!enabled_) return;
      sigaction(SIGINT, &old_int_, nullptr);
      sigaction(SIGTERM, &old_term_, nullptr);
      g_signal_target = nullptr;
    }

   private:
    bool enabled_;
    struct sigaction old_int_ {};
    struct sigaction old_term_ {};
  };

  ApplicationConfig config_;
  bool embedded_ = false;
  std::string bootstrap_;
  std::unique_ptr<kafka::MockCluster> mock_;
  std::optional<detail::TopicCatalog> topics_;  // set once the broker is known
  std::vector<std::shared_ptr<detail::Graph>> graphs_;
  std::shared_ptr<detail::GraphEnv> env_;
  struct SourceEntry {
    std::shared_ptr<Source> source;
    Topic topic;
    std::string changelog;  // a StatefulSource's state (SRC-03), else empty
  };
  std::vector<SourceEntry> sources_;
  std::unique_ptr<state::StoreProvider> stores_;
  // CK-05: held from the first exactly-once run() until clear_state() or destruction.
  std::optional<detail::ProcessIdentity> identity_;
  bool identity_failed_ = false;
  std::string random_id_;  // the transactional id's base when no identity can be kept
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_fail_{false};
  std::atomic<bool> interrupted_{false};
  RunStats stats_;
  // APP-17: the connection's librdkafka settings but bootstrap.servers (empty = none).
  std::map<std::string, std::string> connection_;
  // Shared with every client handle, which keeps it alive for as long as it can ask for a token.
  std::shared_ptr<kafka::OAuthTokenSource> token_source_;
  // EXT-08; the server last: it is stopped before what its handlers read goes.
  std::unique_ptr<detail::Metrics> metrics_;
  std::unique_ptr<detail::Health> health_;
  std::unique_ptr<detail::OperationsServer> operations_;
};

Application::Application(ApplicationConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}
Application::~Application() = default;

Topic Application::topic(std::string name, const TopicOptions& options) {
  return impl_->topic(std::move(name), options);
}
StreamingDataFrame Application::dataframe(const Topic& topic) {
  return impl_->dataframe(topic);
}
Topic Application::add_source(std::shared_ptr<Source> source, std::optional<Topic> topic) {
  return impl_->add_source(std::move(source), std::move(topic));
}
StreamingDataFrame Application::dataframe(std::shared_ptr<Source> source,
                                          std::optional<Topic> topic) {
  return impl_->dataframe(impl_->add_source(std::move(source), std::move(topic)));
}
std::vector<Value> Application::run(RunOptions options) {
  return impl_->run(options);
}
void Application::stop(bool fail) {
  impl_->stop(fail);
}
const ApplicationConfig& Application::config() const {
  return impl_->config_;
}
Producer Application::get_producer() {
  return detail::make_producer(impl_->producer_config());
}
Consumer Application::get_consumer(bool auto_commit_enable) {
  kafka::Config c = impl_->consumer_config();
  kafka::set_option(c, "enable.auto.commit", auto_commit_enable ? "true" : "false");
  return detail::make_consumer(c);
}
std::string Application::bootstrap_servers() const {
  return impl_->bootstrap_;
}
void Application::clear_state() {
  impl_->clear_state();
}
std::vector<std::string> Application::delete_internal_topics() {
  return impl_->delete_internal_topics();
}
RunStats Application::stats() const {
  return impl_->stats_;
}

kafka::MockCluster* detail::ApplicationAccess::embedded_cluster(Application& app) {
  return app.impl_->mock_.get();
}

std::vector<StreamingDataFrame> detail::ApplicationAccess::frames(Application& app) {
  std::vector<StreamingDataFrame> out;
  for (const auto& g : app.impl_->graphs_) {
    if (!g->upstream()) out.push_back(detail::Access::frame(g, g->root()));
  }
  return out;
}

// Here rather than with the driver: the dataframe layer does not know the Application.
TestDriver::TestDriver(Application& app, TestDriverOptions options, OutputFn on_output)
    : TestDriver(detail::ApplicationAccess::frames(app), options, std::move(on_output)) {}

}  // namespace streamframe
