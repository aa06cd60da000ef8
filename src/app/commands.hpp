// SPDX-License-Identifier: MIT
#pragma once
/// @file
/// The sub-commands of `srr`. Each takes the arguments after its name and returns the exit code.

namespace srr::app {

int run_layer(int argc, char** argv);
int run_calibrate(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_quantize(int argc, char** argv);
int run_sweep(int argc, char** argv);
int run_export(int argc, char** argv);
int run_synthetic(int argc, char** argv);
int run_allocate(int argc, char** argv);

}  // namespace srr::app
