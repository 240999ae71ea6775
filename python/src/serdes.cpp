#include "serdes.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <chrono>
#include <utility>
#include <vector>

#include "callables.hpp"
#include "convert.hpp"
#include "errors.hpp"
#include "streamframe/avro.hpp"
#include "streamframe/errors.hpp"
#include "streamframe/protobuf.hpp"
#include "streamframe/schema_registry.hpp"

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

// ---- native serdes made with arguments -------------------------------------------------------

namespace streamframe::python {

// streamframe.models.serializers.SchemaRegistryClientConfig, as the dict the package passes.
SchemaRegistryClientConfig registry_config(const nb::dict& d) {
  SchemaRegistryClientConfig c;
  auto text = [&](const char* key) -> std::string {
    if (!d.contains(key) || d[key].is_none()) return {};
    return nb::cast<std::string>(d[key]);
  };
  c.url = text("url");
  c.basic_auth_user_info = text("basic_auth_user_info");
  c.ssl_ca_location = text("ssl_ca_location");
  c.ssl_certificate_location = text("ssl_certificate_location");
  c.ssl_key_location = text("ssl_key_location");
  if (d.contains("timeout_ms") && !d["timeout_ms"].is_none())
    c.timeout = std::chrono::milliseconds(nb::cast<std::int64_t>(d["timeout_ms"]));
  return c;
}

SchemaRegistrySerializationConfig serialization_config(const nb::dict& d) {
  SchemaRegistrySerializationConfig c;
  if (d.contains("auto_register_schemas"))
    c.auto_register_schemas = nb::cast<bool>(d["auto_register_schemas"]);
  if (d.contains("subject_name_strategy")) {
    const auto s = nb::cast<std::string>(d["subject_name_strategy"]);
    if (s == "topic_name") {
      c.subject_name_strategy = SubjectNameStrategy::topic_name;
    } else if (s == "record_name") {
      c.subject_name_strategy = SubjectNameStrategy::record_name;
    } else if (s == "topic_record_name") {
      c.subject_name_strategy = SubjectNameStrategy::topic_record_name;
    } else {
      throw ConfigError("unknown subject_name_strategy '" + s + "'");
    }
  }
  return c;
}

void bind_serdes(nb::module_& m) {
  nb::class_<NativeSerializer>(m, "NativeSerializer")
      .def(
          "serialize",
          [](const NativeSerializer& self, nb::handle value, std::optional<std::string> topic,
             bool key) {
            const Value v = to_value(value, "serializer");
            std::shared_ptr<const Serializer> s = self.serializer;
            if (topic) {
              if (auto bound = s->for_topic(*topic, key)) s = std::move(bound);
            }
            std::string out;
            {
              nb::gil_scoped_release release;  // a registry request may take a while
              s->serialize(v, out);
            }
            return nb::bytes(out.data(), out.size());
          },
          nb::arg("value"), nb::arg("topic").none(), nb::arg("key") = false,
          "Serializes one value (bound to `topic` when given), as a topic would.")
      .def_prop_ro("name", [](const NativeSerializer& self) {
        return std::string(self.serializer->name());
      });
  nb::class_<NativeDeserializer>(m, "NativeDeserializer")
      .def(
          "deserialize",
          [](const NativeDeserializer& self, nb::bytes data) {
            const std::string bytes(data.c_str(), data.size());
            std::vector<Value> rows;
            {
              nb::gil_scoped_release release;
              self.deserializer->deserialize(bytes, Headers{}, rows);
            }
            if (rows.size() == 1) return to_python(rows.front());
            nb::list out;
            for (const auto& r : rows) out.append(to_python(r));
            return nb::object(out);
          },
          nb::arg("data"), "Deserializes one message's bytes, as a topic would.")
      .def_prop_ro("name", [](const NativeDeserializer& self) {
        return std::string(self.deserializer->name());
      });

  m.def(
      "avro_serializer",
      [](std::string schema, bool strict, bool strict_allow_default,
         std::optional<nb::dict> registry, std::optional<nb::dict> serialization) {
        AvroSerializerOptions o;
        o.schema = std::move(schema);
        o.strict = strict;
        o.strict_allow_default = strict_allow_default;
        if (registry) o.schema_registry_client_config = registry_config(*registry);
        if (serialization)
          o.schema_registry_serialization_config = serialization_config(*serialization);
        return NativeSerializer{avro_serializer(o)};
      },
      nb::arg("schema"), nb::arg("strict"), nb::arg("strict_allow_default"),
      nb::arg("registry").none(), nb::arg("serialization").none());
  m.def(
      "avro_deserializer",
      [](std::optional<std::string> schema, std::optional<std::string> reader_schema,
         std::optional<nb::dict> registry) {
        AvroDeserializerOptions o;
        if (schema) o.schema = std::move(*schema);
        if (reader_schema) o.reader_schema = std::move(*reader_schema);
        if (registry) o.schema_registry_client_config = registry_config(*registry);
        return NativeDeserializer{avro_deserializer(o)};
      },
      nb::arg("schema").none(), nb::arg("reader_schema").none(), nb::arg("registry").none());
  // The message type comes as the FileDescriptorSet of its file and the files that file
  // imports, as the package collects them from the Python class's descriptors.
  m.def(
      "protobuf_serializer",
      [](nb::bytes descriptor_set, std::string message_type, bool deterministic,
         bool ignore_unknown_fields, std::optional<nb::dict> registry,
         std::optional<nb::dict> serialization) {
        ProtobufSerializerOptions o;
        o.msg_type.descriptor_set.assign(descriptor_set.c_str(), descriptor_set.size());
        o.msg_type.message_type = std::move(message_type);
        o.deterministic = deterministic;
        o.ignore_unknown_fields = ignore_unknown_fields;
        if (registry) o.schema_registry_client_config = registry_config(*registry);
        if (serialization)
          o.schema_registry_serialization_config = serialization_config(*serialization);
        return NativeSerializer{protobuf_serializer(o)};
      },
      nb::arg("descriptor_set"), nb::arg("message_type"), nb::arg("deterministic"),
      nb::arg("ignore_unknown_fields"), nb::arg("registry").none(),
      nb::arg("serialization").none());
  m.def(
      "protobuf_deserializer",
      [](nb::bytes descriptor_set, std::string message_type, bool use_integers_for_enums,
         bool preserving_proto_field_name, std::optional<nb::dict> registry) {
        ProtobufDeserializerOptions o;
        o.msg_type.descriptor_set.assign(descriptor_set.c_str(), descriptor_set.size());
        o.msg_type.message_type = std::move(message_type);
        o.use_integers_for_enums = use_integers_for_enums;
        o.preserving_proto_field_name = preserving_proto_field_name;
        if (registry) o.schema_registry_client_config = registry_config(*registry);
        return NativeDeserializer{protobuf_deserializer(o)};
      },
      nb::arg("descriptor_set"), nb::arg("message_type"), nb::arg("use_integers_for_enums"),
      nb::arg("preserving_proto_field_name"), nb::arg("registry").none());
}

}  // namespace streamframe::python
