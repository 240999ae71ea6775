#include "streamframe/application.hpp"

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <unordered_set>

#include "app/producer_factory.hpp"
#include "app/worker.hpp"
#include "core/logging.hpp"
#include "dataframe/graph.hpp"
#include "kafka/admin.hpp"
#include "kafka/mock_cluster.hpp"
#include "streamframe/errors.hpp"

namespace streamframe {
namespace {

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : std::move(fallback);
}

const char* offset_reset_name(AutoOffsetReset r) {
  switch (r) {
    case AutoOffsetReset::earliest:
      return "earliest";
    case AutoOffsetReset::latest:
      return "latest";
    case AutoOffsetReset::error:
      return "error";
  }
  return "latest";
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
    detail::configure_logging(config_.loglevel);
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
    embedded_ = config_.broker_address == "embedded";
    if (embedded_) {
      if (config_.processing_guarantee == ProcessingGuarantee::exactly_once) {
        throw ConfigError(
            "exactly_once is not available on the embedded broker: it does not filter aborted "
            "transactions; use a real Kafka broker");
      }
      mock_ = std::make_unique<kafka::MockCluster>(1);
      bootstrap_ = mock_->bootstrap_servers();
      detail::logger()->warn(
          "using the embedded in-memory broker at {}: it lacks read-committed filtering of "
          "aborted transactions, an admin API and compaction, and loses everything at exit",
          bootstrap_);
    } else {
      bootstrap_ = config_.broker_address;
    }
  }

  ~Impl() {
    Impl* self = this;
    g_signal_target.compare_exchange_strong(self, nullptr);
  }

  kafka::Config common_config() const {
    kafka::Config c{{"bootstrap.servers", bootstrap_}};
    c.emplace_back("client.id", "streamframe-" + config_.consumer_group);
    return c;
  }

  kafka::Config consumer_config() const {
    kafka::Config c = kafka::merge(kafka::default_consumer_config(), common_config());
    kafka::set_option(c, "group.id", config_.consumer_group);
    kafka::set_option(c, "enable.partition.eof", "false");
    kafka::set_option(c, "fetch.wait.max.ms", "100");
    if (embedded_) c = kafka::merge(std::move(c), kafka::embedded_consumer_overrides());
    kafka::set_option(c, "auto.offset.reset", offset_reset_name(config_.auto_offset_reset));
    apply_extra(c, config_.consumer_extra_config, "consumer_extra_config");
    return c;
  }

  kafka::Config producer_config() const {
    kafka::Config c = kafka::merge(kafka::default_producer_config(), common_config());
    kafka::set_option(c, "request.timeout.ms", std::to_string(config_.request_timeout.count()));
    apply_extra(c, config_.producer_extra_config, "producer_extra_config");
    return c;
  }

  kafka::Admin& admin() {
    if (!admin_) admin_ = std::make_unique<kafka::Admin>(common_config());
    return *admin_;
  }

  Topic topic(std::string name, const TopicOptions& options) {
    Topic t = Topic::make(std::move(name), options);
    const auto& cfg = t.config();
    if (embedded_) {
      // The mock cluster has no admin API; its own call creates topics (DESIGN "Brokers").
      if (!mock_topics_.count(t.name())) {
        mock_->create_topic(t.name(), cfg.num_partitions, cfg.replication_factor);
        mock_topics_.insert(t.name());
      }
      return t;
    }
    std::optional<int> partitions;
    try {
      partitions = admin().partition_count(t.name(), config_.request_timeout);
    } catch (const KafkaError& e) {
      // Usually the first call that needs the broker: say which address was not reachable.
      if (!is_unreachable(e.code())) throw;
      throw KafkaBrokerUnavailableError(
          e.code(),
          "no Kafka broker reachable at '" + bootstrap_ + "' within " +
              std::to_string(config_.request_timeout.count()) + " ms: " + e.what(),
          true, false);
    }
    if (!partitions) {
      if (!config_.auto_create_topics) {
        throw TopicNotFound("topic '" + t.name() +
                            "' does not exist and auto_create_topics is off");
      }
      admin().create_topic(t.name(), cfg.num_partitions, cfg.replication_factor, cfg.extra_config,
                           config_.topic_create_timeout);
      detail::logger()->info("created topic '{}' ({} partitions, replication factor {})", t.name(),
                             cfg.num_partitions, cfg.replication_factor);
    }
    return t;
  }

  static bool is_unreachable(int code) {
    return code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__TIMED_OUT ||
           code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__RESOLVE;
  }

  StreamingDataFrame dataframe(const Topic& topic) {
    for (const auto& g : graphs_) {
      if (g->topic().name() == topic.name()) {
        throw ConfigError("topic '" + topic.name() +
                          "' already has a dataframe; branch it instead");
      }
    }
    auto graph = std::make_shared<detail::Graph>(topic);
    graphs_.push_back(graph);
    return StreamingDataFrame(graph, graph->root());
  }

  std::vector<Value> run(RunOptions options) {
    if (graphs_.empty()) throw ConfigError("run(): no dataframe was declared");
    if (running_.exchange(true)) throw InvalidOperation("run() is already running");
    struct Running {
      std::atomic<bool>& flag;
      ~Running() { flag = false; }
    } running_guard{running_};
    stop_ = false;
    stop_fail_ = false;
    SignalScope signals(this, config_.install_signal_handlers);

    if (!embedded_ && !admin().wait_until_reachable(config_.request_timeout)) {
      throw KafkaBrokerUnavailableError(RD_KAFKA_RESP_ERR__TRANSPORT,
                                        "no Kafka broker reachable at '" + bootstrap_ +
                                            "' within " +
                                            std::to_string(config_.request_timeout.count()) + " ms",
                                        true, false);
    }
    if (!worker_) {
      detail::WorkerSettings settings;
      settings.consumer_config = consumer_config();
      settings.producer_config = producer_config();
      settings.app = &config_;
      settings.graphs = graphs_;
      if (embedded_) {
        for (const auto& g : graphs_) {
          for (int p = 0; p < g->topic().config().num_partitions; ++p) {
            settings.static_assignment.push_back({g->topic().name(), p});
          }
        }
      }
      worker_ = std::make_unique<detail::Worker>(std::move(settings));
    }
    detail::RunState state;
    state.options = options;
    try {
      worker_->run(state, stop_, stop_fail_);
    } catch (...) {
      accumulate();
      worker_.reset();  // closes the consumer without committing
      if (interrupted_) throw Interrupted("interrupted by a second SIGINT; nothing was committed");
      throw;
    }
    accumulate();
    if (interrupted_) {
      worker_.reset();
      throw Interrupted("interrupted by a second SIGINT; nothing was committed");
    }
    // A limited run hands the partitions back so another run (or app) resumes from the
    // committed offsets; an unlimited run only ends by stop().
    worker_.reset();
    return std::move(state.collected);
  }

  void accumulate() {
    if (!worker_) return;
    auto s = worker_->stats();
    stats_.messages_consumed += s.messages_consumed;
    stats_.rows_processed += s.rows_processed;
    stats_.records_produced += s.records_produced;
    stats_.errors_skipped += s.errors_skipped;
    stats_.checkpoints += s.checkpoints;
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
  std::unique_ptr<kafka::Admin> admin_;
  std::unordered_set<std::string> mock_topics_;
  std::vector<std::shared_ptr<detail::Graph>> graphs_;
  std::unique_ptr<detail::Worker> worker_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> stop_fail_{false};
  std::atomic<bool> interrupted_{false};
  RunStats stats_;
};

Application::Application(ApplicationConfig config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}
Application::~Application() = default;

Topic Application::topic(std::string name, TopicOptions options) {
  return impl_->topic(std::move(name), options);
}
StreamingDataFrame Application::dataframe(const Topic& topic) {
  return impl_->dataframe(topic);
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
std::string Application::bootstrap_servers() const {
  return impl_->bootstrap_;
}
RunStats Application::stats() const {
  return impl_->stats_;
}

}  // namespace streamframe
