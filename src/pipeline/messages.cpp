// SPDX-License-Identifier: MIT
#include "pipeline/messages.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace srr::pipeline {

namespace {

int tag_of(Tag t) { return static_cast<int>(t); }

bool is_tag(int t) { return t >= tag_of(Tag::Assign) && t <= tag_of(Tag::Bye); }

void send_bytes(const parallel::Communicator& comm, int dest, Tag tag, std::span<const std::byte> bytes) {
  comm.send<std::byte>(bytes, dest, tag_of(tag));
}

std::vector<std::byte> receive_bytes(const parallel::Communicator& comm, int source, Tag tag) {
  return comm.recv_vector<std::byte>(source, tag_of(tag));
}

std::string text_of(std::span<const std::byte> bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// An int32 followed by text: the Failure and Stop bodies.
std::vector<std::byte> code_and_text(int code, const std::string& text) {
  const auto c = static_cast<std::int32_t>(code);
  std::vector<std::byte> out(sizeof c + text.size());
  std::memcpy(out.data(), &c, sizeof c);
  std::ranges::copy(bytes_of(text), out.begin() + sizeof c);
  return out;
}

std::pair<int, std::string> read_code_and_text(std::span<const std::byte> bytes, const char* what) {
  std::int32_t c = 0;
  if (bytes.size() < sizeof c) throw ProtocolError(detail::concat("a ", what, " message of ", bytes.size(), " bytes"));
  std::memcpy(&c, bytes.data(), sizeof c);
  return {c, text_of(bytes.subspan(sizeof c))};
}

}  // namespace

std::optional<Envelope> poll(const parallel::Communicator& comm, int source) {
  const auto m = comm.iprobe<std::byte>(source, parallel::any_tag);
  if (!m) return std::nullopt;
  if (!is_tag(m->tag)) throw ProtocolError(detail::concat("a message with tag ", m->tag, " from rank ", m->source));
  return Envelope{m->source, static_cast<Tag>(m->tag)};
}

Envelope wait_for(const parallel::Communicator& comm, int source) {
  for (;;) {
    if (auto e = poll(comm, source)) return *e;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void send(const parallel::Communicator& comm, int dest, const Assign& m) {
  send_bytes(comm, dest, Tag::Assign, bytes_of(m.layer));
}
void send(const parallel::Communicator& comm, int dest, const store::LayerRecord& result) {
  send_bytes(comm, dest, Tag::Result, store::serialize(result));
}
void send(const parallel::Communicator& comm, int dest, const Failure& m) {
  send_bytes(comm, dest, Tag::Failure, code_and_text(m.exit_code, m.message));
}
void send(const parallel::Communicator& comm, int dest, const Stop&) { send_bytes(comm, dest, Tag::Stop, {}); }
void send(const parallel::Communicator& comm, int dest, const Bye& m) {
  std::vector<std::int64_t> v{m.scales_built};
  v.insert(v.end(), m.peak_kib.begin(), m.peak_kib.end());
  send_bytes(comm, dest, Tag::Bye, std::as_bytes(std::span<const std::int64_t>(v)));
}

Assign receive_assign(const parallel::Communicator& comm, int source) {
  return {text_of(receive_bytes(comm, source, Tag::Assign))};
}

store::LayerRecord receive_result(const parallel::Communicator& comm, int source) {
  return store::deserialize(receive_bytes(comm, source, Tag::Result));
}

Failure receive_failure(const parallel::Communicator& comm, int source) {
  auto [code, text] = read_code_and_text(receive_bytes(comm, source, Tag::Failure), "failure");
  if (code != 1 && code != 2) throw ProtocolError(detail::concat("a failure with exit code ", code));
  return {code, std::move(text)};
}

Stop receive_stop(const parallel::Communicator& comm, int source) {
  if (!receive_bytes(comm, source, Tag::Stop).empty()) throw ProtocolError("a stop message with content");
  return {};
}

Bye receive_bye(const parallel::Communicator& comm, int source) {
  const auto bytes = receive_bytes(comm, source, Tag::Bye);
  if (bytes.empty() || bytes.size() % sizeof(std::int64_t) != 0)
    throw ProtocolError(detail::concat("a goodbye of ", bytes.size(), " bytes"));
  std::vector<std::int64_t> v(bytes.size() / sizeof(std::int64_t));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return {v.front(), std::vector<std::int64_t>(v.begin() + 1, v.end())};
}

}  // namespace srr::pipeline
