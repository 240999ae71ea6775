#include "convert.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string>

#include "streamframe/errors.hpp"

namespace streamframe::python {

namespace {

// A Python str's UTF-8; lone surrogates (bytes that were not UTF-8 when the str was made from
// them, see text()) go back to the bytes they came from.
std::string utf8_of(nb::handle s) {
  Py_ssize_t size = 0;
  if (const char* data = PyUnicode_AsUTF8AndSize(s.ptr(), &size)) return std::string(data, size);
  PyErr_Clear();
  nb::object encoded = nb::steal(PyUnicode_AsEncodedString(s.ptr(), "utf-8", "surrogateescape"));
  if (!encoded.is_valid()) throw nb::python_error();
  return std::string(PyBytes_AS_STRING(encoded.ptr()),
                     static_cast<std::size_t>(PyBytes_GET_SIZE(encoded.ptr())));
}

// Text that is not valid UTF-8 (a string serde fed other bytes) still becomes a str; its odd
// bytes become lone surrogates, which utf8_of() turns back into the same bytes.
nb::object text(const std::string& s) {
  PyObject* out =
      PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
  if (out == nullptr) throw nb::python_error();
  return nb::steal(out);
}

std::string type_name_of(nb::handle object) {
  return nb::type_name(object.type()).c_str();
}

Value to_value_at(nb::handle object, std::string_view what, int depth);

Value object_to_value(nb::handle dict, std::string_view what, int depth) {
  Object out;
  out.reserve(static_cast<std::size_t>(PyDict_Size(dict.ptr())));
  PyObject* key = nullptr;
  PyObject* item = nullptr;
  Py_ssize_t pos = 0;
  while (PyDict_Next(dict.ptr(), &pos, &key, &item)) {
    if (!PyUnicode_Check(key)) {
      throw ValueTypeError(fmt::format("{}: a dict key must be a str to become JSON, not '{}'",
                                       what, type_name_of(key)));
    }
    out.set(utf8_of(key), to_value_at(item, what, depth + 1));
  }
  return Value(std::move(out));
}

Value to_value_at(nb::handle object, std::string_view what, int depth) {
  if (depth > 512)
    throw ValueTypeError(fmt::format("{}: a value nested over 512 levels deep", what));
  PyObject* o = object.ptr();
  if (o == Py_None) return Value();
  if (PyBool_Check(o)) return Value(o == Py_True);
  if (PyLong_Check(o)) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0) {
      throw ValueTypeError(
          fmt::format("{}: the int {} does not fit in 64 bits", what, nb::str(object).c_str()));
    }
    if (v == -1 && PyErr_Occurred()) throw nb::python_error();
    return Value(static_cast<std::int64_t>(v));
  }
  if (PyFloat_Check(o)) return Value(PyFloat_AS_DOUBLE(o));
  if (PyUnicode_Check(o)) return Value(utf8_of(object));
  if (PyDict_Check(o)) return object_to_value(object, what, depth);
  if (PyList_Check(o) || PyTuple_Check(o)) {
    nb::object seq = nb::steal(PySequence_Fast(o, "a list"));
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq.ptr());
    PyObject** items = PySequence_Fast_ITEMS(seq.ptr());
    Array out;
    out.reserve(static_cast<std::size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) out.push_back(to_value_at(items[i], what, depth + 1));
    return Value(std::move(out));
  }
  if (PyBytes_Check(o)) {
    return Value(std::string(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o))));
  }
  if (PyByteArray_Check(o)) {
    return Value(
        std::string(PyByteArray_AS_STRING(o), static_cast<std::size_t>(PyByteArray_GET_SIZE(o))));
  }
  throw ValueTypeError(fmt::format(
      "{}: a '{}' is not JSON-representable (use dict, list, str, int, float, bool, None or bytes)",
      what, type_name_of(object)));
}

}  // namespace

nb::object to_python(const Value& value, StringsAs strings) {
  switch (value.type()) {
    case Value::Type::null:
      return nb::none();
    case Value::Type::boolean:
      return nb::bool_(value.as_bool());
    case Value::Type::integer:
      return nb::steal(PyLong_FromLongLong(value.as_int()));
    case Value::Type::floating:
      return nb::steal(PyFloat_FromDouble(value.as_double()));
    case Value::Type::string: {
      const std::string& s = value.as_string();
      if (strings == StringsAs::bytes) return nb::bytes(s.data(), s.size());
      return text(s);
    }
    case Value::Type::array: {
      const Array& items = value.as_array();
      nb::object out = nb::steal(PyList_New(static_cast<Py_ssize_t>(items.size())));
      if (!out.is_valid()) throw nb::python_error();
      for (std::size_t i = 0; i < items.size(); ++i) {
        // PyList_SET_ITEM steals the reference.
        PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i),
                        to_python(items[i], strings).release().ptr());
      }
      return out;
    }
    case Value::Type::object: {
      nb::dict out;
      for (const auto& [k, v] : value.as_object()) {
        nb::object key = text(k);
        nb::object item = to_python(v, strings);
        if (PyDict_SetItem(out.ptr(), key.ptr(), item.ptr()) != 0) throw nb::python_error();
      }
      return out;
    }
  }
  return nb::none();
}

Value to_value(nb::handle object, std::string_view what) {
  return to_value_at(object, what, 0);
}

nb::object headers_to_python(const Headers& headers) {
  // Quix: a list of (name, value) tuples, values as bytes (None for a null value).
  nb::list out;
  for (const auto& [name, value] : headers) {
    nb::object v = value ? nb::object(nb::bytes(value->data(), value->size())) : nb::none();
    out.append(nb::make_tuple(text(name), v));
  }
  return out;
}

Headers headers_to_value(nb::handle object, std::string_view what) {
  Headers out;
  if (object.is_none()) return out;
  auto add = [&](nb::handle name, nb::handle value) {
    if (!PyUnicode_Check(name.ptr())) {
      throw ValueTypeError(
          fmt::format("{}: a header name must be a str, not '{}'", what, type_name_of(name)));
    }
    HeaderValue v;
    if (!value.is_none()) {
      if (PyUnicode_Check(value.ptr())) {
        v = utf8_of(value);
      } else if (PyBytes_Check(value.ptr())) {
        v = std::string(PyBytes_AS_STRING(value.ptr()),
                        static_cast<std::size_t>(PyBytes_GET_SIZE(value.ptr())));
      } else {
        throw ValueTypeError(fmt::format("{}: a header value must be bytes, str or None, not '{}'",
                                         what, type_name_of(value)));
      }
    }
    out.emplace_back(utf8_of(name), std::move(v));
  };
  if (PyDict_Check(object.ptr())) {
    for (auto [k, v] : nb::borrow<nb::dict>(object)) add(k, v);
    return out;
  }
  for (nb::handle item : object) {
    nb::object pair = nb::borrow(item);
    if (!PyTuple_Check(pair.ptr()) || PyTuple_GET_SIZE(pair.ptr()) != 2) {
      throw ValueTypeError(
          fmt::format("{}: headers are a dict or a list of (name, value) tuples", what));
    }
    add(PyTuple_GET_ITEM(pair.ptr(), 0), PyTuple_GET_ITEM(pair.ptr(), 1));
  }
  return out;
}

std::optional<std::string> optional_bytes(nb::handle h, std::string_view what) {
  if (h.is_none()) return std::nullopt;
  if (PyBytes_Check(h.ptr())) {
    return std::string(PyBytes_AS_STRING(h.ptr()),
                       static_cast<std::size_t>(PyBytes_GET_SIZE(h.ptr())));
  }
  if (PyUnicode_Check(h.ptr())) return nb::cast<std::string>(h);
  throw ValueTypeError(std::string(what) +
                       " must be bytes, str or None (serialize it first), not '" +
                       nb::type_name(h.type()).c_str() + "'");
}

}  // namespace streamframe::python
