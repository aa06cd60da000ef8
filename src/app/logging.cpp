// SPDX-License-Identifier: MIT
#include "app/logging.hpp"

#include <boost/core/null_deleter.hpp>
#include <boost/log/attributes/constant.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/support/date_time.hpp>
#include <boost/log/utility/setup/common_attributes.hpp>
#include <boost/make_shared.hpp>
#include <fstream>
#include <iostream>

#include "base/error.hpp"

namespace srr::app {

namespace logging = boost::log;
namespace expr = boost::log::expressions;

namespace {
logging::trivial::severity_level parse_level(const std::string& s) {
  logging::trivial::severity_level level;
  if (!logging::trivial::from_string(s.c_str(), s.size(), level))
    throw InputError("--log-level must be trace, debug, info, warning or error; got '" + s + "'");
  return level;
}

void add_stream(boost::shared_ptr<std::ostream> stream,
                logging::trivial::severity_level min_level = logging::trivial::trace) {
  using backend_t = logging::sinks::text_ostream_backend;
  auto backend = boost::make_shared<backend_t>();
  backend->add_stream(stream);
  backend->auto_flush(true);
  auto sink = boost::make_shared<logging::sinks::synchronous_sink<backend_t>>(backend);
  sink->set_filter(logging::trivial::severity >= min_level);
  sink->set_formatter(expr::stream << "[" << expr::format_date_time<boost::posix_time::ptime>("TimeStamp", "%Y-%m-%d %H:%M:%S.%f")
                                   << "] [rank " << expr::attr<int>("Rank") << "] [" << logging::trivial::severity
                                   << "] " << expr::smessage);
  logging::core::get()->add_sink(sink);
}
}  // namespace

void init_logging(const LogSettings& s) {
  auto core = logging::core::get();
  core->remove_all_sinks();
  logging::add_common_attributes();
  core->add_global_attribute("Rank", logging::attributes::constant<int>(s.rank));
  core->set_filter(logging::trivial::severity >= parse_level(s.level));
  // Rank 0 reports progress; the other ranks only their warnings and errors, so nothing reaches Boost.Log's
  // untagged default sink and stderr is not flooded with one copy of every line per rank.
  const auto stderr_level =
      s.rank == 0 || s.all_ranks_to_stderr ? logging::trivial::trace : logging::trivial::warning;
  add_stream(boost::shared_ptr<std::ostream>(&std::clog, boost::null_deleter()), stderr_level);
  if (!s.file.empty()) {
    std::string path = s.file;
    if (auto pos = path.find("%r"); pos != std::string::npos) path.replace(pos, 2, std::to_string(s.rank));
    auto file = boost::make_shared<std::ofstream>(path, std::ios::app);
    require(file->good(), "--log-file: cannot open '", path, "' for writing");
    add_stream(file);
  }
}

}  // namespace srr::app
