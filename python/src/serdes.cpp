#include "serdes.hpp"

#include <nanobind/stl/string.h>

#include <utility>

#include "callables.hpp"
#include "convert.hpp"
#include "errors.hpp"

namespace streamframe::python {

namespace {

// streamframe.models.serializers: SerializationContext and IgnoreMessage, looked up once. The
// engine drops a serde on any thread, without the GIL.
class SerdeModule {
 public:
  SerdeModule() {
    nb::module_ m = nb::module_::import_("streamframe.models.serializers");
    context = m.attr("SerializationContext");
    ignore = m.attr("IgnoreMessage");
  }
  SerdeModule(const SerdeModule&) = delete;
  SerdeModule& operator=(const SerdeModule&) = delete;
  ~SerdeModule() {
    if (!Py_IsInitialized()) {  // the interpreter is gone: nothing left to release to
      (void)context.release();
      (void)ignore.release();
      return;
    }
    nb::gil_scoped_acquire gil;
    context.reset();
    ignore.reset();
  }

  nb::object context;
  nb::object ignore;
};

// What a serde of either direction holds: the Python object, and the names its errors and its
// SerializationContext give.
struct PythonSerde {
  PythonSerde(CallableRef o, std::string t, std::string f, const char* direction)
      : object(std::move(o)),
        topic(std::move(t)),
        field(std::move(f)),
        what(field + " " + direction + " of topic '" + topic + "'") {}
  nb::object context(nb::object headers) const { return module.context(topic, field, headers); }

  CallableRef object;
  SerdeModule module;
  std::string topic;
  std::string field;
  std::string what;
};

class PythonDeserializer final : public Deserializer {
 public:
  PythonDeserializer(CallableRef object, std::string topic, std::string field, bool split)
      : serde_(std::move(object), std::move(topic), std::move(field), "deserializer"),
        split_(split) {}

  void deserialize(std::string_view data, const Headers& headers,
                   std::vector<Value>& out) const override {
    CallbackGil gil;
    try {
      nb::object ctx = serde_.context(headers.empty() ? nb::none() : headers_to_python(headers));
      nb::object value = serde_.object.get()(nb::bytes(data.data(), data.size()), ctx);
      if (split_ && PyList_Check(value.ptr())) {
        for (nb::handle item : value) out.push_back(to_value(item, serde_.what));
      } else {
        out.push_back(to_value(value, serde_.what));
      }
    } catch (nb::python_error& e) {
      if (e.matches(serde_.module.ignore)) throw IgnoreMessage();
      throw PythonError(std::move(e), serde_.what);
    }
  }

  std::string_view name() const override { return "python"; }

 private:
  PythonSerde serde_;
  bool split_;
};

class PythonSerializer final : public Serializer {
 public:
  PythonSerializer(CallableRef object, std::string topic, std::string field, Headers extra)
      : serde_(std::move(object), std::move(topic), std::move(field), "serializer"),
        extra_(std::move(extra)) {}

  void serialize(const Value& value, std::string& out) const override {
    with_gil(serde_.what, [&] {
      nb::object bytes = serde_.object.get()(to_python(value), serde_.context(nb::none()));
      if (PyBytes_Check(bytes.ptr())) {
        out.append(PyBytes_AS_STRING(bytes.ptr()),
                   static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr())));
      } else if (PyUnicode_Check(bytes.ptr())) {
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(bytes.ptr(), &size);
        if (text == nullptr) throw nb::python_error();
        out.append(text, static_cast<std::size_t>(size));
      } else {
        throw SerializationError(serde_.what + " must return bytes or str, not '" +
                                 nb::type_name(bytes.type()).c_str() + "'");
      }
    });
  }

  Headers extra_headers() const override { return extra_; }
  std::string_view name() const override { return "python"; }

 private:
  PythonSerde serde_;
  Headers extra_;
};

}  // namespace

std::shared_ptr<const Deserializer> wrap_deserializer(nb::handle keeper, nb::object object,
                                                      std::string topic, std::string field) {
  const bool split =
      nb::hasattr(object, "split_values") && nb::cast<bool>(object.attr("split_values"));
  return std::make_shared<PythonDeserializer>(CallableRef::kept_by(keeper, std::move(object)),
                                              std::move(topic), std::move(field), split);
}

std::shared_ptr<const Serializer> wrap_serializer(nb::handle keeper, nb::object object,
                                                  std::string topic, std::string field) {
  Headers extra;
  if (nb::hasattr(object, "extra_headers")) {
    nb::object h = object.attr("extra_headers");
    extra = headers_to_value(h, "extra_headers");
  }
  return std::make_shared<PythonSerializer>(CallableRef::kept_by(keeper, std::move(object)),
                                            std::move(topic), std::move(field), std::move(extra));
}

}  // namespace streamframe::python
