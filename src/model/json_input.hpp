// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The one entry point for JSON that comes from a file (safetensors headers, config.json, shard indexes).
/// nlohmann parses it; this wrapper bounds its size and nesting, rejects duplicated keys (nlohmann would
/// silently keep the last one, so two tensors of one name could hide each other), and turns every
/// nlohmann exception into an InputError that names the source.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace srr::model {

/// Limits for untrusted JSON.
inline constexpr std::size_t k_max_json_bytes = 100u << 20;
inline constexpr int k_max_json_depth = 64;

/// Parses `text`; `source` (a file name) prefixes every error message.
nlohmann::json parse_json_input(std::string_view text, const std::string& source);
/// Reads and parses a whole JSON file (at most k_max_json_bytes).
nlohmann::json read_json_file(const std::string& path);

/// Typed field access with the error naming source and key.
namespace json_field {
/// An integer in [lo, hi]; `fallback` when the key is absent or null (throws when absent and no fallback).
std::int64_t integer(const nlohmann::json& obj, const std::string& key, const std::string& source,
                     std::int64_t lo, std::int64_t hi, const std::int64_t* fallback = nullptr);
double number(const nlohmann::json& obj, const std::string& key, const std::string& source,
              const double* fallback = nullptr);
bool boolean(const nlohmann::json& obj, const std::string& key, const std::string& source, bool fallback);
}  // namespace json_field

}  // namespace srr::model
