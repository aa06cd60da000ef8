// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// Command-line plumbing shared by every sub-command: INI config files under the command line, --help,
/// logging options, and the method options that `layer`, `quantize` and `sweep` all accept.

#include <boost/program_options.hpp>
#include <cstdint>
#include <string>

#include "parallel/mpi.hpp"
#include "qer/method.hpp"

namespace srr::app {

namespace po = boost::program_options;

/// Adds --help, --config, --log-level, --log-file.
void add_common_options(po::options_description& desc);

/// A byte count such as "5GB", "500MB", "1.5GiB" or "123456": decimal units as save_pretrained's
/// max_shard_size (KB, MB, GB, TB), binary ones with an i (KiB, MiB, GiB). InputError naming `option`.
std::uint64_t parse_size(const std::string& text, const std::string& option);
/// --memory-per-rank, shared by calibrate, eval and quantize (pipeline/memory_plan.hpp).
void add_memory_option(po::options_description& desc);
/// Collective over `comm`: --memory-per-rank, or by default this node's memory divided by the ranks on it.
std::uint64_t memory_per_rank(const po::variables_map& vm, const parallel::Communicator& comm);

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
