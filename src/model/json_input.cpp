// SPDX-License-Identifier: MIT
#include "model/json_input.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "base/error.hpp"

namespace srr::model {

using nlohmann::json;

nlohmann::json parse_json_input(std::string_view text, const std::string& source) {
  if (text.size() > k_max_json_bytes)
    throw InputError(source + ": JSON text of " + std::to_string(text.size()) + " bytes exceeds the limit of " +
                     std::to_string(k_max_json_bytes));
  // Keys seen in each open object; the depth is the number of open objects and arrays.
  std::vector<std::set<std::string>> open_objects;
  int depth = 0;
  auto callback = [&](int, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (++depth > k_max_json_depth)
          throw InputError(source + ": JSON nested deeper than " + std::to_string(k_max_json_depth));
        if (event == json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        --depth;
        open_objects.pop_back();
        break;
      case json::parse_event_t::array_end:
        --depth;
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.back().insert(key).second)
          throw InputError(source + ": duplicated JSON key \"" + key + "\"");
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const json::exception& e) {
    throw InputError(source + ": invalid JSON: " + e.what());
  }
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open " + path);
  std::string text;
  char chunk[65536];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<std::size_t>(in.gcount()));
    if (text.size() > k_max_json_bytes)
      throw InputError(path + ": larger than the JSON limit of " + std::to_string(k_max_json_bytes) + " bytes");
  }
  if (in.bad()) throw InputError("cannot read " + path);
  return parse_json_input(text, path);
}

namespace json_field {

namespace {
const json* find(const json& obj, const std::string& key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}
}  // namespace

std::int64_t integer(const json& obj, const std::string& key, const std::string& source, std::int64_t lo,
                     std::int64_t hi, const std::int64_t* fallback) {
  const json* v = find(obj, key);
  if (v == nullptr) {
    if (fallback != nullptr) return *fallback;
    throw InputError(source + ": missing \"" + key + "\"");
  }
  std::int64_t value = 0;
  if (v->is_number_unsigned()) {
    const auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi))
      throw InputError(source + ": \"" + key + "\" = " + std::to_string(u) + " is larger than " +
                       std::to_string(hi));
    value = static_cast<std::int64_t>(u);
  } else if (v->is_number_integer()) {
    value = v->get<std::int64_t>();
  } else {
    throw InputError(source + ": \"" + key + "\" must be an integer, got " + v->dump());
  }
  if (value < lo || value > hi)
    throw InputError(source + ": \"" + key + "\" = " + std::to_string(value) + " is outside [" +
                     std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return value;
}

double number(const json& obj, const std::string& key, const std::string& source, const double* fallback) {
  const json* v = find(obj, key);
  if (v == nullptr) {
    if (fallback != nullptr) return *fallback;
    throw InputError(source + ": missing \"" + key + "\"");
  }
  if (!v->is_number()) throw InputError(source + ": \"" + key + "\" must be a number, got " + v->dump());
  return v->get<double>();
}

bool boolean(const json& obj, const std::string& key, const std::string& source, bool fallback) {
  const json* v = find(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) throw InputError(source + ": \"" + key + "\" must be true or false, got " + v->dump());
  return v->get<bool>();
}

}  // namespace json_field

}  // namespace srr::model
