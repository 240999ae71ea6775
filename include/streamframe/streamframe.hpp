// Umbrella header: everything a pipeline needs.
#pragma once

#include "streamframe/application.hpp"
#include "streamframe/csv.hpp"
#include "streamframe/postgresql.hpp"
#include "streamframe/dataframe.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/producer.hpp"
#include "streamframe/record.hpp"
#include "streamframe/serde.hpp"
#include "streamframe/series.hpp"
#include "streamframe/sink.hpp"
#include "streamframe/source.hpp"
#include "streamframe/state.hpp"
#include "streamframe/test_driver.hpp"
#include "streamframe/topic.hpp"
#include "streamframe/value.hpp"
#include "streamframe/windows.hpp"
