#include <catch2/catch.hpp>

#include <vector>

#include "flashmc/nn/panel_gemm.hpp"

using namespace flashmc;

TEST_CASE("panel weights packed from the transpose: the bits of scaling, then packing", "[nn][panel]") {
    // Row counts below, at and above a multiple of kPanelRows (a zero-padded last block).
    for (const int rows : {1, 5, nn::kPanelRows, 2 * nn::kPanelRows + 3}) {
        const int K = 37;
        const float scale = 1.0f / 15.0f;
        std::vector<float> wt(static_cast<std::size_t>(K) * rows), w(wt.size());
        for (int k = 0; k < K; ++k)
            for (int o = 0; o < rows; ++o) {
                const float v = 1e-9f * static_cast<float>((k * 31 + o * 17) % 23) - 7e-9f;
                wt[static_cast<std::size_t>(k) * rows + o] = v;
                w[static_cast<std::size_t>(o) * K + k] = v * scale;
            }
        FloatVec ref, packed(3, 42.0f);  // a reused buffer of another size
        nn::pack_panel_weights(w.data(), rows, K, ref);
        nn::pack_panel_weights_transposed(wt.data(), rows, K, scale, packed);
        REQUIRE(packed.size() == ref.size());
        for (std::size_t i = 0; i < ref.size(); ++i) REQUIRE(packed[i] == ref[i]);
    }
}
