// Values crossing between the engine and Python (PY-03): dict / list / str / int / float /
// bool / None, and bytes where a serde carries raw bytes. Only code that already holds the GIL
// calls these.
#pragma once

#include <nanobind/nanobind.h>

#include <optional>
#include <string>
#include <string_view>

#include "streamframe/record.hpp"
#include "streamframe/value.hpp"

namespace streamframe::python {

namespace nb = nanobind;

// How a string Value goes to Python: text, or the raw bytes of a bytes serde.
enum class StringsAs { text, bytes };

nb::object to_python(const Value& value, StringsAs strings = StringsAs::text);
nb::object headers_to_python(const Headers& headers);

// Throws ValueTypeError naming `what` (the operation or argument) for an object that has no
// Value: a set, a custom class, an int outside 64 bits, a dict with a non-str key.
Value to_value(nb::handle object, std::string_view what);
// Raw bytes given as bytes or str (its UTF-8), None = nullopt; anything else => ValueTypeError
// naming `what`.
std::optional<std::string> optional_bytes(nb::handle h, std::string_view what);
Headers headers_to_value(nb::handle object, std::string_view what);

}  // namespace streamframe::python
