// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Command-line plumbing shared by every sub-command: INI config files under the command line, --help,
/// logging options, and the method options that `layer`, `quantize` and `sweep` all accept.

#include <boost/program_options.hpp>
#include <string>

#include "qer/method.hpp"

namespace srr::app {

namespace po = boost::program_options;

/// Adds --help, --config, --log-level, --log-file.
void add_common_options(po::options_description& desc);

/// Parses the sub-command's arguments, then every --config INI file (values on the command line win over
/// the files, earlier files over later ones). Prints help and returns false for --help. Bad or unknown
/// options throw InputError naming the option.
bool parse_command(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
                   const std::string& usage);

/// Adds --method, --scale, --bits, --block, --rank, --k-rule, --k, --recon, --iters, --seed, --svd, ...
void add_method_options(po::options_description& desc);
/// Reads them back (validating names; numeric ranges are checked where the layer shape is known).
qer::MethodSettings method_settings(const po::variables_map& vm);

}  // namespace srr::app
