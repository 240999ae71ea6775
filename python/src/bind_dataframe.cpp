// StreamingDataFrame, StreamingSeries, State and windows with Quix Streams' names (PY-02).
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "convert.hpp"
#include "errors.hpp"
#include "frame.hpp"
#include "sinks.hpp"

namespace streamframe::python {

std::chrono::milliseconds ms_of(nb::handle h, const char* what) {
  if (PyLong_Check(h.ptr()) && !PyBool_Check(h.ptr())) {
    return std::chrono::milliseconds(nb::cast<std::int64_t>(h));
  }
  if (nb::hasattr(h, "total_seconds")) {
    const double seconds = nb::cast<double>(h.attr("total_seconds")());
    return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000)));
  }
  throw ConfigError(std::string(what) + " takes int milliseconds or a datetime.timedelta, not '" +
                    nb::type_name(h.type()).c_str() + "'");
}

namespace {

Series as_series(nb::handle h, const char* what) {
  if (nb::isinstance<Series>(h)) return nb::cast<Series>(h);
  return Series::constant(to_value(h, what));
}

std::string optional_name(const std::optional<std::string>& name) {
  return name.value_or("");
}

ClosingStrategy closing_of(const std::string& s) {
  if (s == "key") return ClosingStrategy::key;
  if (s == "partition") return ClosingStrategy::partition;
  throw ConfigError("closing_strategy is 'key' or 'partition', not '" + s + "'");
}

Frame same(const Frame& f, StreamingDataFrame sdf) {
  return make_frame(std::move(sdf), f.repr, f.keep);
}

CallableRef keep(const Frame& f, nb::object func) {
  return CallableRef::kept_by(f.keep, std::move(func));
}

void bind_series(nb::module_& m) {
  auto cls = nb::class_<Series>(m, "StreamingSeries",
                                "An expression over a record's value, evaluated natively per "
                                "record (no Python per record).");
#define SF_PY_BINARY(py, rpy, op)                                                  \
  cls.def(                                                                         \
      py,                                                                          \
      [](const Series& a, nb::handle b) {                                          \
        return make_binary(BinaryOp::op, a, as_series(b, "StreamingSeries " py));  \
      },                                                                           \
      nb::arg("other").none());                                                    \
  cls.def(                                                                         \
      rpy,                                                                         \
      [](const Series& a, nb::handle b) {                                          \
        return make_binary(BinaryOp::op, as_series(b, "StreamingSeries " rpy), a); \
      },                                                                           \
      nb::arg("other").none());
  SF_PY_BINARY("__add__", "__radd__", add)
  SF_PY_BINARY("__sub__", "__rsub__", sub)
  SF_PY_BINARY("__mul__", "__rmul__", mul)
  SF_PY_BINARY("__truediv__", "__rtruediv__", div)
  SF_PY_BINARY("__mod__", "__rmod__", mod)
  SF_PY_BINARY("__and__", "__rand__", logical_and)
  SF_PY_BINARY("__or__", "__ror__", logical_or)
#undef SF_PY_BINARY
#define SF_PY_COMPARE(py, op)                                                     \
  cls.def(                                                                        \
      py,                                                                         \
      [](const Series& a, nb::handle b) {                                         \
        return make_binary(BinaryOp::op, a, as_series(b, "StreamingSeries " py)); \
      },                                                                          \
      nb::arg("other").none());
  SF_PY_COMPARE("__eq__", eq)
  SF_PY_COMPARE("__ne__", ne)
  SF_PY_COMPARE("__lt__", lt)
  SF_PY_COMPARE("__le__", le)
  SF_PY_COMPARE("__gt__", gt)
  SF_PY_COMPARE("__ge__", ge)
#undef SF_PY_COMPARE
  for (const char* op : {"__floordiv__", "__rfloordiv__", "__pow__", "__rpow__", "__neg__",
                         "__lshift__", "__rshift__", "__xor__"}) {
    cls.def(op, [op](const Series&, nb::args) {
      raise_not_implemented(std::string("StreamingSeries ") + op +
                            " is not supported by streamframe");
    });
  }
  cls.def("__invert__", [](const Series& s) { return ~s; });
  cls.def("__bool__", [](const Series&) {
    raise_not_implemented(
        "a StreamingSeries has no truth value when the pipeline is defined: use & and | instead "
        "of 'and' and 'or', and sdf[...] to filter");
  });
  cls.def("__getitem__", [](const Series& s, nb::handle item) {
    if (PyLong_Check(item.ptr())) return s[nb::cast<int>(item)];
    return s[nb::cast<std::string>(item)];
  });
  cls.def(
      "get",
      [](const Series& s, nb::handle item, nb::handle default_) {
        if (!default_.is_none())
          raise_not_implemented("StreamingSeries.get(key, default) with a default");
        if (PyLong_Check(item.ptr())) return s[nb::cast<int>(item)];
        return s[nb::cast<std::string>(item)];
      },
      nb::arg("key"), nb::arg("default").none() = nb::none());
  cls.def(
      "apply",
      [](const Series& s, nb::object f) {
        return s.apply(
            wrap_unary(CallableRef::owned(std::move(f)), StringsAs::text, "StreamingSeries.apply"));
      },
      nb::arg("func"));
  cls.def(
      "isin",
      [](const Series& s, nb::handle other) {
        return s.isin(to_value(other, "StreamingSeries.isin"));
      },
      nb::arg("other").none());
  cls.def(
      "contains",
      [](const Series& s, nb::handle other) {
        return s.contains(to_value(other, "StreamingSeries.contains"));
      },
      nb::arg("other").none());
  cls.def(
      "is_",
      [](const Series& s, nb::handle other) {
        return s.is_(to_value(other, "StreamingSeries.is_"));
      },
      nb::arg("other").none());
  cls.def(
      "isnot",
      [](const Series& s, nb::handle other) {
        return s.isnot(to_value(other, "StreamingSeries.isnot"));
      },
      nb::arg("other").none());
  cls.def("isnull", &Series::isnull);
  cls.def("notnull", &Series::notnull);
  cls.def("abs", &Series::abs);
  cls.def("__abs__", &Series::abs);
  cls.def(
      "test",
      [](const Series& s, nb::handle value) {
        return to_python(s.evaluate(to_value(value, "StreamingSeries.test")));
      },
      nb::arg("value").none(), "Evaluates the expression on one value.");
  cls.def("__repr__", [](const Series& s) { return "<StreamingSeries " + s.describe() + ">"; });
}

void bind_state(nb::module_& m) {
  nb::class_<StateRef>(m, "State",
                       "A stateful callable's state for the current message key (valid only "
                       "during the call).")
      .def(
          "get",
          [](const StateRef& s, nb::handle key, nb::handle default_) -> nb::object {
            Value fallback = to_value(default_, "State.get default");
            return to_python(s.get().get(to_value(key, "State.get key"), std::move(fallback)));
          },
          nb::arg("key").none(), nb::arg("default").none() = nb::none())
      .def(
          "set",
          [](const StateRef& s, nb::handle key, nb::handle value) {
            s.get().set(to_value(key, "State.set key"), to_value(value, "State.set value"));
          },
          nb::arg("key").none(), nb::arg("value").none())
      .def(
          "delete",
          [](const StateRef& s, nb::handle key) {
            s.get().remove(to_value(key, "State.delete key"));
          },
          nb::arg("key").none())
      .def(
          "exists",
          [](const StateRef& s, nb::handle key) {
            return s.get().exists(to_value(key, "State.exists key"));
          },
          nb::arg("key").none());
}

Aggregation aggregation_of(const std::string& kind, std::optional<std::string> column) {
  if (kind == "count") return agg::count(std::move(column));
  if (kind == "sum") return agg::sum(std::move(column));
  if (kind == "mean") return agg::mean(std::move(column));
  if (kind == "min") return agg::min(std::move(column));
  if (kind == "max") return agg::max(std::move(column));
  if (kind == "earliest") return agg::earliest(std::move(column));
  if (kind == "latest") return agg::latest(std::move(column));
  if (kind == "first") return agg::first(std::move(column));
  if (kind == "last") return agg::last(std::move(column));
  if (kind == "collect") return agg::collect(std::move(column));
  throw ConfigError("no aggregation named '" + kind + "'");
}

std::vector<std::pair<std::string, Aggregation>> aggregations_of(nb::kwargs kwargs) {
  std::vector<std::pair<std::string, Aggregation>> out;
  for (auto [name, a] : kwargs) {
    if (!nb::isinstance<Aggregation>(a)) {
      throw ConfigError("agg(" + nb::cast<std::string>(name) +
                        "=...) takes an aggregation such as Sum(\"col\") or Count()");
    }
    out.emplace_back(nb::cast<std::string>(name), nb::cast<Aggregation>(a));
  }
  if (out.empty()) throw ConfigError("agg() needs at least one name=Aggregation()");
  return out;
}

void bind_windows(nb::module_& m) {
  nb::class_<Aggregation>(m, "Aggregation");
  m.def("_aggregation", &aggregation_of, nb::arg("kind"), nb::arg("column") = nb::none());
  m.def("_reduce", [](nb::object reducer, nb::object initializer) {
    return agg::reduce(
        wrap_binary(CallableRef::owned(std::move(reducer)), StringsAs::text, "Reduce reducer"),
        wrap_unary(CallableRef::owned(std::move(initializer)), StringsAs::text,
                   "Reduce initializer"));
  });

  auto emit_options = [](const std::string& closing) {
    return EmitOptions{.closing_strategy = closing_of(closing)};
  };
  nb::class_<WindowAgg>(m, "WindowedAggregation", nb::type_slots(keep_slots<WindowAgg>()))
      .def(
          "final",
          [emit_options](const WindowAgg& w, const std::string& closing_strategy) {
            return make_frame(w.agg.final(emit_options(closing_strategy)),
                              {StringsAs::text, w.repr.keys}, w.keep);
          },
          nb::arg("closing_strategy") = "key")
      .def(
          "current",
          [emit_options](const WindowAgg& w, const std::string& closing_strategy) {
            return make_frame(w.agg.current(emit_options(closing_strategy)),
                              {StringsAs::text, w.repr.keys}, w.keep);
          },
          nb::arg("closing_strategy") = "key");

  auto wrap = [](const Window& w, WindowedAggregation a) {
    return WindowAgg{std::move(a), w.repr, w.keep};
  };
  nb::class_<Window>(m, "Window", nb::type_slots(keep_slots<Window>()))
      .def("sum", [wrap](const Window& w) { return wrap(w, w.def.sum()); })
      .def("count", [wrap](const Window& w) { return wrap(w, w.def.count()); })
      .def("mean", [wrap](const Window& w) { return wrap(w, w.def.mean()); })
      .def("min", [wrap](const Window& w) { return wrap(w, w.def.min()); })
      .def("max", [wrap](const Window& w) { return wrap(w, w.def.max()); })
      .def("collect", [wrap](const Window& w) { return wrap(w, w.def.collect()); })
      .def(
          "reduce",
          [wrap](const Window& w, nb::object reducer, nb::object initializer) {
            return wrap(
                w, w.def.reduce(wrap_binary(CallableRef::kept_by(w.keep, std::move(reducer)),
                                            w.repr.values, "window reduce reducer"),
                                wrap_unary(CallableRef::kept_by(w.keep, std::move(initializer)),
                                           w.repr.values, "window reduce initializer")));
          },
          nb::arg("reducer"), nb::arg("initializer"))
      .def("agg", [wrap](const Window& w, nb::kwargs kwargs) {
        return wrap(w, w.def.agg(aggregations_of(kwargs)));
      });
}

// Quix: on_late(value, key, timestamp_ms, late_by_ms, start, end, store_name, topic,
// partition, offset) -> bool (True: log the late record).
OnLateFn on_late_of(const Frame& f, nb::object on_late) {
  if (on_late.is_none()) return nullptr;
  CallableRef fn = keep(f, std::move(on_late));
  const Representation r = f.repr;
  return [fn, r](const LateRecord& late) -> bool {
    CallbackGil gil;
    try {
      nb::object out = fn.get()(to_python(late.value, r.values), to_python(late.key, r.keys),
                                late.timestamp, late.late_by_ms, late.start, late.end,
                                late.store_name, late.topic, late.partition, late.offset);
      const int truth = PyObject_IsTrue(out.ptr());
      if (truth < 0) throw nb::python_error();
      return truth == 1;
    } catch (nb::python_error& e) {
      throw PythonError(std::move(e), "on_late");
    }
  };
}

// grace_ms, name and on_late, as every time window and session window takes them.
template <class Options>
Options window_options(const Frame& f, nb::handle grace_ms, const std::optional<std::string>& name,
                       nb::object on_late) {
  Options o;
  o.grace = ms_of(grace_ms, "grace_ms");
  o.name = optional_name(name);
  o.on_late = on_late_of(f, std::move(on_late));
  return o;
}

JoinHow how_of(const std::string& how, bool asof) {
  if (how == "inner") return JoinHow::inner;
  if (how == "left") return JoinHow::left;
  if (!asof && how == "right") return JoinHow::right;
  if (!asof && how == "outer") return JoinHow::outer;
  throw ConfigError("how=" + how + ": " +
                    (asof ? "join_asof takes 'inner' or 'left'"
                          : "join_interval takes 'inner', 'left', 'right' or 'outer'"));
}

// on_merge: "raise", "keep-left", "keep-right", or a callable(left, right) -> merged value.
template <class Options>
void set_on_merge(const Frame& f, nb::object on_merge, Options& options) {
  if (PyUnicode_Check(on_merge.ptr())) {
    const std::string s = nb::cast<std::string>(on_merge);
    if (s == "raise") {
      options.on_merge = OnMerge::raise;
    } else if (s == "keep-left") {
      options.on_merge = OnMerge::keep_left;
    } else if (s == "keep-right") {
      options.on_merge = OnMerge::keep_right;
    } else {
      throw ConfigError("on_merge is 'raise', 'keep-left', 'keep-right' or a callable, not '" + s +
                        "'");
    }
    return;
  }
  options.merge = wrap_binary(keep(f, std::move(on_merge)), f.repr.values, "join on_merge");
}

void bind_frame(nb::module_& m) {
  auto cls = nb::class_<Frame>(m, "StreamingDataFrame", nb::type_slots(keep_slots<Frame>()));
  cls.def("__getitem__", [](Frame& f, nb::handle item) -> nb::object {
    if (PyUnicode_Check(item.ptr())) {
      return nb::cast(Series::column(nb::cast<std::string>(item)));
    }
    if (nb::isinstance<Series>(item)) {
      return nb::cast(same(f, f.sdf[nb::cast<Series>(item)]));
    }
    if (PyList_Check(item.ptr()) || PyTuple_Check(item.ptr())) {
      return nb::cast(same(f, f.sdf.project(nb::cast<std::vector<std::string>>(item))));
    }
    throw ConfigError(std::string("sdf[...] takes a column name, a list of column names or a "
                                  "StreamingSeries to filter by, not '") +
                      nb::type_name(item.type()).c_str() + "'");
  });
  cls.def(
      "__setitem__",
      [](Frame& f, const std::string& column, nb::handle item) {
        if (nb::isinstance<Series>(item)) {
          f.sdf[column] = nb::cast<Series>(item);
        } else if (nb::isinstance<Frame>(item)) {
          f.sdf[column] = nb::cast<Frame&>(item).sdf;
        } else {
          f.sdf[column] = Series::constant(to_value(item, "sdf[column] = ..."));
        }
      },
      nb::arg("column"), nb::arg("value").none());
  cls.def(
      "apply",
      [](const Frame& f, nb::object func, bool stateful, bool expand, bool metadata) {
        ApplyOptions options{.expand = expand};
        if (stateful) {
          auto fn = wrap_apply_state(keep(f, std::move(func)), metadata, f.repr, "apply");
          return same(f, f.sdf.apply(std::move(fn), options));
        }
        auto fn = wrap_apply(keep(f, std::move(func)), metadata, f.repr, "apply");
        return same(f, f.sdf.apply(std::move(fn), options));
      },
      nb::arg("func"), nb::kw_only(), nb::arg("stateful") = false, nb::arg("expand") = false,
      nb::arg("metadata") = false);
  cls.def(
      "update",
      [](Frame& f, nb::object func, bool stateful, bool metadata) -> Frame& {
        if (stateful) {
          f.sdf.update(wrap_update_state(keep(f, std::move(func)), metadata, f.repr, "update"));
        } else {
          f.sdf.update(wrap_update(keep(f, std::move(func)), metadata, f.repr, "update"));
        }
        return f;
      },
      nb::arg("func"), nb::kw_only(), nb::arg("stateful") = false, nb::arg("metadata") = false,
      nb::rv_policy::reference);
  cls.def(
      "filter",
      [](const Frame& f, nb::object func, bool stateful, bool metadata) {
        if (stateful) {
          return same(f, f.sdf.filter(wrap_filter_state(keep(f, std::move(func)), metadata, f.repr,
                                                        "filter")));
        }
        return same(
            f, f.sdf.filter(wrap_filter(keep(f, std::move(func)), metadata, f.repr, "filter")));
      },
      nb::arg("func"), nb::kw_only(), nb::arg("stateful") = false, nb::arg("metadata") = false);
  cls.def(
      "to_topic",
      [](Frame& f, const PyTopic& topic, nb::object key) -> Frame& {
        KeyFn key_fn = nullptr;
        if (!key.is_none())
          key_fn = wrap_unary(keep(f, std::move(key)), f.repr.values, "to_topic key");
        f.sdf.to_topic(topic.topic, std::move(key_fn));
        return f;
      },
      nb::arg("topic"), nb::kw_only(), nb::arg("key") = nb::none(), nb::rv_policy::reference);
  cls.def(
      "contains", [](const Frame& f, const std::string& key) { return f.sdf.contains(key); },
      nb::arg("key"));
  cls.def(
      "drop",
      [](Frame& f, nb::handle columns, const std::string& errors) -> Frame& {
        std::vector<std::string> names;
        if (PyUnicode_Check(columns.ptr())) {
          names.push_back(nb::cast<std::string>(columns));
        } else {
          names = nb::cast<std::vector<std::string>>(columns);
        }
        if (errors != "raise" && errors != "ignore") {
          throw ConfigError("drop(errors=...) is 'raise' or 'ignore', not '" + errors + "'");
        }
        f.sdf.drop(std::move(names), errors == "raise" ? DropErrors::raise : DropErrors::ignore);
        return f;
      },
      nb::arg("columns"), nb::arg("errors") = "raise", nb::rv_policy::reference);
  cls.def(
      "print",
      [](Frame& f, bool pretty, bool metadata) -> Frame& {
        f.sdf.print({.pretty = pretty, .metadata = metadata});
        return f;
      },
      nb::arg("pretty") = true, nb::arg("metadata") = false, nb::rv_policy::reference);
  cls.def(
      "set_timestamp",
      [](Frame& f, nb::object func) -> Frame& {
        f.sdf.set_timestamp(wrap_timestamp(keep(f, std::move(func)), f.repr));
        return f;
      },
      nb::arg("func"), nb::rv_policy::reference);
  cls.def(
      "set_headers",
      [](Frame& f, nb::object func) -> Frame& {
        f.sdf.set_headers(wrap_headers(keep(f, std::move(func)), f.repr));
        return f;
      },
      nb::arg("func"), nb::rv_policy::reference);
  cls.def(
      "group_by",
      [](const Frame& f, nb::object key, std::optional<std::string> name) {
        const Representation after{f.repr.values, StringsAs::text};
        if (PyUnicode_Check(key.ptr())) {
          if (name) raise_not_implemented("group_by(column, name=...): a column is its own name");
          return make_frame(f.sdf.group_by(nb::cast<std::string>(key)), after, f.keep);
        }
        if (!name) throw ConfigError("group_by(callable) needs name=...");
        return make_frame(
            f.sdf.group_by(wrap_unary(keep(f, std::move(key)), f.repr.values, "group_by"), *name),
            after, f.keep);
      },
      nb::arg("key"), nb::arg("name") = nb::none());
  cls.def(
      "concat", [](const Frame& f, const Frame& other) { return same(f, f.sdf.concat(other.sdf)); },
      nb::arg("other"));
  cls.def(
      "tumbling_window",
      [](const Frame& f, nb::handle duration_ms, nb::handle grace_ms,
         std::optional<std::string> name, nb::object on_late) {
        return Window{f.sdf.tumbling_window(
                          ms_of(duration_ms, "duration_ms"),
                          window_options<WindowOptions>(f, grace_ms, name, std::move(on_late))),
                      f.repr, f.keep};
      },
      nb::arg("duration_ms"), nb::arg("grace_ms") = 0, nb::arg("name") = nb::none(),
      nb::arg("on_late") = nb::none());
  cls.def(
      "hopping_window",
      [](const Frame& f, nb::handle duration_ms, nb::handle step_ms, nb::handle grace_ms,
         std::optional<std::string> name, nb::object on_late) {
        return Window{f.sdf.hopping_window(
                          ms_of(duration_ms, "duration_ms"), ms_of(step_ms, "step_ms"),
                          window_options<WindowOptions>(f, grace_ms, name, std::move(on_late))),
                      f.repr, f.keep};
      },
      nb::arg("duration_ms"), nb::arg("step_ms"), nb::arg("grace_ms") = 0,
      nb::arg("name") = nb::none(), nb::arg("on_late") = nb::none());
  cls.def(
      "sliding_window",
      [](const Frame& f, nb::handle duration_ms, nb::handle grace_ms,
         std::optional<std::string> name, nb::object on_late) {
        return Window{f.sdf.sliding_window(
                          ms_of(duration_ms, "duration_ms"),
                          window_options<WindowOptions>(f, grace_ms, name, std::move(on_late))),
                      f.repr, f.keep};
      },
      nb::arg("duration_ms"), nb::arg("grace_ms") = 0, nb::arg("name") = nb::none(),
      nb::arg("on_late") = nb::none());
  cls.def(
      "session_window",
      [](const Frame& f, nb::handle inactivity_gap_ms, nb::handle grace_ms,
         std::optional<std::string> name, nb::object on_late) {
        return Window{f.sdf.session_window(ms_of(inactivity_gap_ms, "inactivity_gap_ms"),
                                           window_options<SessionWindowOptions>(
                                               f, grace_ms, name, std::move(on_late))),
                      f.repr, f.keep};
      },
      nb::arg("inactivity_gap_ms"), nb::arg("grace_ms") = 0, nb::arg("name") = nb::none(),
      nb::arg("on_late") = nb::none());
  cls.def(
      "join_asof",
      [](const Frame& f, const Frame& right, const std::string& how, nb::object on_merge,
         nb::handle grace_ms, std::optional<std::string> name) {
        JoinAsofOptions o;
        o.how = how_of(how, true);
        set_on_merge(f, std::move(on_merge), o);
        if (!grace_ms.is_none()) o.grace = ms_of(grace_ms, "grace_ms");
        if (name) o.name = *name;
        return make_frame(f.sdf.join_asof(right.sdf, std::move(o)), {StringsAs::text, f.repr.keys},
                          f.keep);
      },
      nb::arg("right"), nb::arg("how") = "inner", nb::arg("on_merge") = "raise",
      nb::arg("grace_ms") = nb::none(), nb::arg("name") = nb::none());
  cls.def(
      "join_interval",
      [](const Frame& f, const Frame& right, const std::string& how, nb::object on_merge,
         nb::handle grace_ms, std::optional<std::string> name, nb::handle backward_ms,
         nb::handle forward_ms) {
        JoinIntervalOptions o;
        o.how = how_of(how, false);
        set_on_merge(f, std::move(on_merge), o);
        if (!grace_ms.is_none()) o.grace = ms_of(grace_ms, "grace_ms");
        if (name) o.name = *name;
        o.backward = ms_of(backward_ms, "backward_ms");
        o.forward = ms_of(forward_ms, "forward_ms");
        return make_frame(f.sdf.join_interval(right.sdf, std::move(o)),
                          {StringsAs::text, f.repr.keys}, f.keep);
      },
      nb::arg("right"), nb::arg("how") = "inner", nb::arg("on_merge") = "raise",
      nb::arg("grace_ms") = nb::none(), nb::arg("name") = nb::none(), nb::arg("backward_ms") = 0,
      nb::arg("forward_ms") = 0);
  cls.def(
      "tumbling_count_window",
      [](const Frame& f, std::int64_t count, std::optional<std::string> name) {
        return Window{f.sdf.tumbling_count_window(count, {.name = optional_name(name)}), f.repr,
                      f.keep};
      },
      nb::arg("count"), nb::arg("name") = nb::none());
  cls.def(
      "hopping_count_window",
      [](const Frame& f, std::int64_t count, std::int64_t step, std::optional<std::string> name) {
        return Window{f.sdf.hopping_count_window(count, step, {.name = optional_name(name)}),
                      f.repr, f.keep};
      },
      nb::arg("count"), nb::arg("step"), nb::arg("name") = nb::none());
  cls.def(
      "sliding_count_window",
      [](const Frame& f, std::int64_t count, std::optional<std::string> name) {
        return Window{f.sdf.sliding_count_window(count, {.name = optional_name(name)}), f.repr,
                      f.keep};
      },
      nb::arg("count"), nb::arg("name") = nb::none());
  cls.def(
      "test",
      [](const Frame& f, nb::handle value, nb::handle key, std::int64_t timestamp,
         nb::handle headers) {
        std::vector<Row> rows =
            f.sdf.test(to_value(value, "sdf.test value"), to_value(key, "sdf.test key"), timestamp,
                       headers_to_value(headers, "sdf.test headers"));
        nb::list out;
        for (const Row& row : rows) out.append(to_python(row.value, f.repr.values));
        return out;
      },
      nb::arg("value").none(), nb::arg("key").none() = nb::bytes("key", 3),
      nb::arg("timestamp") = 0, nb::arg("headers").none() = nb::none());
  cls.def(
      "fill",
      [](Frame& f, nb::args columns, nb::kwargs mapping) -> Frame& {
        std::vector<std::string> names;
        for (nb::handle c : columns) {
          if (!PyUnicode_Check(c.ptr())) {
            throw ConfigError(std::string("fill() takes column names as str, not '") +
                              nb::type_name(c.type()).c_str() + "'");
          }
          names.push_back(nb::cast<std::string>(c));
        }
        std::vector<std::pair<std::string, Value>> values;
        for (auto [column, fill] : mapping) {
          values.emplace_back(nb::cast<std::string>(column), to_value(fill, "fill"));
        }
        f.sdf.fill(std::move(names), std::move(values));
        return f;
      },
      nb::rv_policy::reference);
  cls.def(
      "sink",
      [](Frame& f, nb::object sink) {
        // The engine's own sinks (PostgreSQLSink, CSVSink) go in as they are: no GIL per record.
        if (nb::hasattr(sink, "_native")) {
          nb::object native = sink.attr("_native");
          if (nb::isinstance<NativeSink>(native)) {
            // The pipeline keeps the sink object, and with it the Python callables it calls.
            (void)keep(f, sink);
            f.sdf.sink(nb::cast<NativeSink&>(native).sink);
            return;
          }
        }
        for (const char* method : {"add", "flush"}) {
          if (!nb::hasattr(sink, method)) {
            throw ConfigError(std::string("sink() takes an object with add() and flush() (a "
                                          "streamframe.sinks sink), not '") +
                              nb::type_name(sink.type()).c_str() + "'");
          }
        }
        f.sdf.sink(wrap_sink(keep(f, std::move(sink)), f.repr));
      },
      nb::arg("sink"));
  cls.def("join_lookup", &join_lookup, nb::arg("lookup"), nb::arg("fields"),
          nb::arg("on") = nb::none(), nb::arg("buffer") = nb::none());
  cls.def(
      "register_store",
      [](Frame& f, nb::object store_type) {
        // Quix Streams takes a store class here; the engine's stores are RocksDB stores with a
        // changelog, so RocksDBStore (or none) is what it has (PY-05 for the others).
        if (!store_type.is_none()) {
          const nb::object name = nb::getattr(store_type, "__name__", nb::none());
          const std::string type =
              name.is_none() ? nb::type_name(store_type.type()).c_str() : nb::str(name).c_str();
          if (type == "MemoryStore") {
            raise_not_implemented(
                "register_store(store_type=MemoryStore): streamframe's "
                "stores are RocksDB stores with a changelog");
          }
          if (type != "RocksDBStore") {
            throw nb::type_error(
                ("register_store() takes store_type=None or RocksDBStore, not '" + type + "'")
                    .c_str());
          }
        }
        f.sdf.register_store();
      },
      nb::arg("store_type") = nb::none());
  cls.def("__bool__", [](const Frame&) {
    raise_not_implemented("a StreamingDataFrame has no truth value (SDF-20)");
  });
}

}  // namespace

void bind_dataframe(nb::module_& m) {
  bind_series(m);
  bind_state(m);
  bind_windows(m);
  bind_frame(m);
}

}  // namespace streamframe::python
