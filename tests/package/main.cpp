// Uses the installed package: a public header plus a symbol from the shared library.
#include <iostream>
#include <streamframe/value.hpp>

int main() {
  std::cout << streamframe::Value::object({{"a", 1}}).to_json() << '\n';
  return 0;
}
