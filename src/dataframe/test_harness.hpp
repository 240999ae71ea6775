// sdf.test()'s runtime: a PartitionTask of partition 0 over in-memory stores, kept per
// pipeline across calls as a worker keeps a partition's task, and committed after each call.
#pragma once

#include <memory>
#include <vector>

#include "dataframe/graph.hpp"
#include "dataframe/partition_task.hpp"
#include "streamframe/dataframe.hpp"

namespace streamframe::detail {

class TestHarness final : public TaskOutput {
 public:
  explicit TestHarness(const Graph& graph);

  // The task, rebuilt over the same stores when the pipeline gained stores since the last
  // call (operations defined after a first test()).
  PartitionTask& task();
  // Operators write their state and the writes reach the stores (a checkpoint).
  void commit();
  // Takes over `from`'s stores that have the name of one of this pipeline's stores (a
  // redeployed application reopening its stores); `from` keeps the others.
  void adopt_stores(TestHarness& from);
  // Every record rebuilds the operators' state from the stores first.
  bool reload_state = false;

  std::vector<Row> take_rows() { return std::exchange(rows_, {}); }

  // TaskOutput
  void send(const std::string&, std::optional<std::string_view>, std::optional<std::string_view>,
            std::int64_t, const Headers*) override {}
  void emit(Row& row, const MessageContext&, std::uint32_t) override { rows_.push_back(row); }

 private:
  const Graph* graph_;
  std::unique_ptr<PartitionTask> task_;
  std::vector<Row> rows_;
};

// The harness of `frame`'s pipeline, made on first use and dropped with the pipeline.
TestHarness& test_harness(const StreamingDataFrame& frame);

}  // namespace streamframe::detail
