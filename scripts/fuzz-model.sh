#!/usr/bin/env bash
#
# `make fuzz-model`: build and install billium, start a throwaway cluster (scripts/lib.sh) and run
# the model-based check (test/suites/model.sh) for MODEL_SECONDS (default 600) with a seed from the
# clock (or MODEL_SEED).  Prints the seed, the sequences and commands run and every failure, shrunk
# and stored under test/model/regressions/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BILLIUM_ROOT"

billium_install_traps
billium_ensure_packages
billium_build_install
billium_install_fixtures
billium_start_cluster
MODEL_SECONDS=${MODEL_SECONDS:-600} bash test/suites/model.sh --fuzz
