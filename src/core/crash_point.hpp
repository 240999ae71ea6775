// Crash points for process-level recovery tests, after RocksDB's kill points: a test sets
// STREAMFRAME_TEST_CRASH_AT="<point>[:<n>]" in a child process's environment and the process
// kills itself with SIGKILL the n-th time (default: the first) it passes <point>, so a crash
// lands exactly between two steps of a protocol instead of at a random moment.
//
// Points (each named where it is passed):
//   checkpoint.flushed   CK-02 step 3 done (changelogs and outputs acknowledged), before the
//                        offsets are committed or the transaction commits
//   checkpoint.deferred  an at-least-once checkpoint set its offsets aside (processing goes
//                        on; src/app/checkpoint.hpp)
//   checkpoint.deferred.acknowledged
//                        a deferred checkpoint's outputs are acknowledged, before its offsets
//                        are committed
//
// The variable is read once per process; unset, a pass costs a few instructions. Points sit
// on per-checkpoint paths only, never per record.
#pragma once

namespace streamframe::detail {

void crash_point(const char* point);

}  // namespace streamframe::detail
