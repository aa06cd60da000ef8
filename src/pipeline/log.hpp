// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Log records of the runtime go to Boost.Log's trivial logger; the application installs the sinks
/// (app/logging.hpp: rank-tagged, stderr and per-rank files). A library user without sinks gets Boost.Log's
/// default console output.

#include <boost/log/trivial.hpp>

#define SRR_LOG(severity) BOOST_LOG_TRIVIAL(severity)
