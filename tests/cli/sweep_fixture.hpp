#pragma once
// Shared by the sweep CLI tests: a tiny W4A4 model trained on synthetic CIFAR files, and the
// arguments that point experiments/test_tiny.toml at it.
#include <catch2/catch.hpp>

#include <string>

#include "../test_util.hpp"

namespace flashmc::test {

// Writes 100-image synthetic CIFAR files under dir/data, trains dir/fp.h5 and dir/q.h5 (W4A4) and
// returns "experiments/test_tiny.toml --quiet --checkpoint-s 0 --set model.file=... ...".
inline std::string tiny_sweep_args(const TempDir& dir) {
    write_synthetic_cifar(dir / "data", 100);
    const std::string data = " --data " + dir / "data --threads 2 --quiet --test-limit 100";
    auto fp = run_cli("train --model tiny --epochs 2 --batch 50 --lr 0.05" + data + " --out " + dir / "fp.h5 --checkpoint " + dir / "fp.ckpt");
    INFO(fp.output);
    REQUIRE(fp.code == 0);
    auto q = run_cli("train --init " + dir / "fp.h5 --quant w4a4 --epochs 1 --batch 50 --lr 0.01" + data + " --out " + dir / "q.h5 --checkpoint " + dir / "q.ckpt");
    INFO(q.output);
    REQUIRE(q.code == 0);
    return source_dir() + "/experiments/test_tiny.toml --quiet --checkpoint-s 0" + " --set model.file=" + dir / "q.h5" +
           " --set data.dir=" + dir / "data" + " --set device.card=" + source_dir() + "/devices/nor40_cim.toml";
}

}  // namespace flashmc::test
