#include "dataframe/test_harness.hpp"

#include <map>
#include <mutex>
#include <utility>

#include "dataframe/access.hpp"
#include "state/memory_store.hpp"

namespace streamframe::detail {

TestHarness::TestHarness(const Graph& graph) : graph_(&graph) {}

PartitionTask& TestHarness::task() {
  if (task_ && task_->stores().size() == graph_->stores().size()) return *task_;
  auto task = std::make_unique<PartitionTask>(std::vector<const Graph*>{graph_}, 0, *this);
  if (task_) {
    task_->flush_operators();
    task_->commit_writes();
  }
  auto& stores = task->stores();
  for (std::size_t i = 0; i < stores.size(); ++i) {
    std::unique_ptr<state::PartitionStore> store;
    if (task_ && i < task_->stores().size()) {
      // Same store index, same store: registration order only ever appends.
      auto& old = *task_->stores()[i];
      old.op.reset();
      old.txn.reset();
      store = std::move(old.store);
    }
    if (!store) store = std::make_unique<state::MemoryStore>();
    task->attach(i, std::move(store));
  }
  task->set_ready(true);
  task_ = std::move(task);
  return *task_;
}

void TestHarness::commit() {
  PartitionTask& t = task();
  t.flush_operators();
  t.commit_writes();
}

void TestHarness::adopt_stores(TestHarness& from) {
  from.commit();
  PartitionTask& source = from.task();
  PartitionTask& target = task();
  auto& targets = target.stores();
  for (std::size_t i = 0; i < targets.size(); ++i) {
    for (auto& st : source.stores()) {
      // By name alone: tests move a store to a pipeline of another topic (a restart with
      // another declaration).
      if (st->name != targets[i]->name || !st->store) continue;
      st->op.reset();
      st->txn.reset();
      target.attach(i, std::move(st->store));
      // `from` gets an empty store in its place: one store is never open twice.
      source.attach(static_cast<std::size_t>(&st - source.stores().data()),
                    std::make_unique<state::MemoryStore>());
      break;
    }
  }
}

TestHarness& test_harness(const StreamingDataFrame& frame) {
  struct Entry {
    std::weak_ptr<Graph> graph;
    std::unique_ptr<TestHarness> harness;
  };
  static std::mutex mutex;
  static std::map<const Graph*, Entry> harnesses;
  const std::lock_guard lock(mutex);
  // Pipelines that are gone take their harness with them (checked here rather than by the
  // Graph, which knows nothing of tests).
  std::erase_if(harnesses, [](const auto& kv) { return kv.second.graph.expired(); });
  const std::shared_ptr<Graph>& graph = Access::graph(frame);
  auto& entry = harnesses[graph.get()];
  if (!entry.harness) {
    entry.graph = graph;
    entry.harness = std::make_unique<TestHarness>(*graph);
  }
  return *entry.harness;
}

}  // namespace streamframe::detail
