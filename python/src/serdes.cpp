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

class PythonDeserializer final : public Deserializer {
 public:
  PythonDeserializer(CallableRef object, std::string topic, std::string field, bool split)
      : object_(std::move(object)),
        topic_(std::move(topic)),
        field_(std::move(field)),
        split_(split),
        what_(field_ + " deserializer of topic '" + topic_ + "'") {}

  void deserialize(std::string_view data, const Headers& headers,
                   std::vector<Value>& out) const override {
    CallbackGil gil;
    try {
      nb::object ctx = module_.context(topic_, field_,
                                       headers.empty() ? nb::none() : headers_to_python(headers));
      nb::object value = object_.get()(nb::bytes(data.data(), data.size()), ctx);
      if (split_ && PyList_Check(value.ptr())) {
        for (nb::handle item : value) out.push_back(to_value(item, what_));
      } else {
        out.push_back(to_value(value, what_));
      }
    } catch (nb::python_error& e) {
      if (e.matches(module_.ignore)) throw IgnoreMessage();
      throw PythonError(std::move(e), what_);
    }
  }

  std::string_view name() const override { return "python"; }

 private:
  CallableRef object_;
  SerdeModule module_;
  std::string topic_;
  std::string field_;
  bool split_;
  std::string what_;
};

class PythonSerializer final : public Serializer {
 public:
  PythonSerializer(CallableRef object, std::string topic, std::string field, Headers extra)
      : object_(std::move(object)),
        topic_(std::move(topic)),
        field_(std::move(field)),
        extra_(std::move(extra)),
        what_(field_ + " serializer of topic '" + topic_ + "'") {}

  void serialize(const Value& value, std::string& out) const override {
    CallbackGil gil;
    try {
      nb::object ctx = module_.context(topic_, field_, nb::none());
      nb::object bytes = object_.get()(to_python(value), ctx);
      if (PyBytes_Check(bytes.ptr())) {
        out.append(PyBytes_AS_STRING(bytes.ptr()),
                   static_cast<std::size_t>(PyBytes_GET_SIZE(bytes.ptr())));
      } else if (PyUnicode_Check(bytes.ptr())) {
        Py_ssize_t size = 0;
        const char* text = PyUnicode_AsUTF8AndSize(bytes.ptr(), &size);
        if (text == nullptr) throw nb::python_error();
        out.append(text, static_cast<std::size_t>(size));
      } else {
        throw SerializationError(what_ + " must return bytes or str, not '" +
                                 nb::type_name(bytes.type()).c_str() + "'");
      }
    } catch (nb::python_error& e) {
      throw PythonError(std::move(e), what_);
    }
  }

  Headers extra_headers() const override { return extra_; }
  std::string_view name() const override { return "python"; }

 private:
  CallableRef object_;
  SerdeModule module_;
  std::string topic_;
  std::string field_;
  Headers extra_;
  std::string what_;
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
