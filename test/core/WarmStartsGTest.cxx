// IMA's warm starts: a kept perturbation seen from another placement of the same sample equals the
// hand-shifted and hand-flipped tensor; checkpoint tensors round-trip; bad ones are refused.
#include <gtest/gtest.h>

#include <limits>

#include <torch/torch.h>

#include "ima/Error.h"
#include "ima/WarmStarts.h"

namespace WarmStartsGTest {  // this file's names apart from the others' in a unity build

namespace {

// One 2D sample [1, 1, 4, 4] with values 0..15 (row-major), so that every shift and flip is visible.
torch::Tensor ramp2D() { return torch::arange(16, torch::kFloat).reshape({1, 1, 4, 4}); }

ima::PatchPlacement placed(int64_t d, int64_t h, int64_t w, bool flipH = false, bool flipW = false) {
  ima::PatchPlacement p;
  p.start = {d, h, w};
  p.flipped = {false, flipH, flipW};
  return p;
}

}  // namespace

TEST(WarmStarts, TheSamePlacementGivesTheKeptPerturbationBack) {
  ima::WarmStarts warm;
  warm.store({7}, {placed(3, 0, 0)}, ramp2D());
  const auto r = warm.recall({7}, {placed(3, 0, 0)}, torch::zeros({1, 1, 4, 4}));
  EXPECT_TRUE(torch::equal(r.delta, ramp2D()));
  EXPECT_TRUE(r.found[0].item<bool>());
}

TEST(WarmStarts, AShiftedPatchTakesTheOverlapAndZerosElsewhere) {
  ima::WarmStarts warm;
  warm.store({0}, {placed(0, 0, 0)}, ramp2D());
  // The new patch starts one row down and two columns right: its (h, w) is the kept (h + 1, w + 2).
  const auto r = warm.recall({0}, {placed(0, 1, 2)}, torch::zeros({1, 1, 4, 4}));
  const torch::Tensor expected = torch::tensor({6.f, 7.f, 0.f, 0.f, 10.f, 11.f, 0.f, 0.f, 14.f, 15.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f})
                                     .reshape({1, 1, 4, 4});
  EXPECT_TRUE(torch::equal(r.delta, expected)) << r.delta;
  EXPECT_TRUE(r.found[0].item<bool>());
  // And the other way round: the new (h, w) is the kept (h - 1, w - 2), value 4 (h - 1) + w - 2.
  const auto back = warm.recall({0}, {placed(0, -1, -2)}, torch::zeros({1, 1, 4, 4}));
  EXPECT_EQ(back.delta[0][0][3][3].item<float>(), 9.f);
  EXPECT_EQ(back.delta[0][0][1][3].item<float>(), 1.f);
  EXPECT_EQ(back.delta[0][0][2][2].item<float>(), 4.f);
  EXPECT_EQ(back.delta[0][0][0][3].item<float>(), 0.f);  // outside the kept patch
  EXPECT_EQ(back.delta[0][0][3][1].item<float>(), 0.f);
}

TEST(WarmStarts, FlipsAreUndoneWhenKeptAndAppliedWhenRecalled) {
  ima::WarmStarts warm;
  // Seen flipped along w: in the case's frame the perturbation is the ramp flipped back.
  warm.store({1}, {placed(0, 0, 0, false, true)}, ramp2D());
  EXPECT_TRUE(torch::equal(warm.recall({1}, {placed(0, 0, 0)}, torch::zeros({1, 1, 4, 4})).delta, ramp2D().flip({3})));
  EXPECT_TRUE(torch::equal(warm.recall({1}, {placed(0, 0, 0, false, true)}, torch::zeros({1, 1, 4, 4})).delta, ramp2D()));
  EXPECT_TRUE(torch::equal(warm.recall({1}, {placed(0, 0, 0, true, false)}, torch::zeros({1, 1, 4, 4})).delta,
                           ramp2D().flip({3}).flip({2})));
}

TEST(WarmStarts, NoOverlapOrNoKeptPerturbationIsNotAWarmStart) {
  ima::WarmStarts warm;
  warm.store({2}, {placed(0, 0, 0)}, ramp2D());
  const auto r = warm.recall({2, 3}, {placed(0, 4, 0), placed(0, 0, 0)}, torch::zeros({2, 1, 4, 4}));
  EXPECT_FALSE(r.found[0].item<bool>());
  EXPECT_FALSE(r.found[1].item<bool>());
  EXPECT_EQ(r.delta.abs().sum().item<float>(), 0.f);
}

TEST(WarmStarts, ThreeDimensionalPatchesShiftAlongEveryAxis) {
  ima::WarmStarts warm;
  const torch::Tensor cube = torch::arange(2 * 27, torch::kFloat).reshape({1, 2, 3, 3, 3});  // two channels
  warm.store({5}, {}, cube);  // the default placement
  ima::PatchPlacement p = placed(1, 1, 1);
  const auto r = warm.recall({5}, {p}, torch::zeros({1, 2, 3, 3, 3}));
  const torch::Tensor expected = torch::zeros({1, 2, 3, 3, 3});
  expected.narrow(2, 0, 2).narrow(3, 0, 2).narrow(4, 0, 2).copy_(cube.narrow(2, 1, 2).narrow(3, 1, 2).narrow(4, 1, 2));
  EXPECT_TRUE(torch::equal(r.delta, expected));
}

TEST(WarmStarts, CheckpointTensorsRoundTripAndBadOnesAreRefused) {
  ima::WarmStarts warm;
  warm.store({4, 1}, {placed(2, 0, 1, true, false), placed(0, 0, 0)}, torch::cat({ramp2D(), -ramp2D()}));
  const auto tensors = warm.tensors();
  const ima::WarmStarts back = ima::WarmStarts::fromTensors(tensors, "checkpoint 'c'");
  EXPECT_EQ(back.size(), 2);
  for (const auto& p : {placed(2, 0, 1), placed(2, 1, 0, false, true)}) {
    EXPECT_TRUE(torch::equal(back.recall({4}, {p}, torch::zeros({1, 1, 4, 4})).delta,
                             warm.recall({4}, {p}, torch::zeros({1, 1, 4, 4})).delta));
  }
  EXPECT_TRUE(ima::WarmStarts::fromTensors({}, "c").size() == 0);
  auto broken = tensors;
  broken[1].second = broken[1].second.narrow(0, 0, 1);  // one placement for two ids
  try {
    ima::WarmStarts::fromTensors(broken, "checkpoint 'c'");
    FAIL() << "inconsistent warm starts accepted";
  } catch (const ima::Error& e) {
    EXPECT_NE(std::string(e.what()).find("checkpoint 'c'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(back.checkIds(4), ima::Error);  // id 4 of a 4-sample training set
  EXPECT_NO_THROW(back.checkIds(5));
  // A patch of another size cannot take a kept perturbation.
  EXPECT_THROW(back.recall({1}, {placed(0, 0, 0)}, torch::zeros({1, 1, 8, 8})), ima::Error);
}

// After a resume the kept perturbations are views of the checkpoint's tensor (not a second copy of
// the table); a revisit writes into its own slot, so that tensor's row changes and no other.
TEST(WarmStarts, ARevisitAfterAResumeOverwritesItsSlotInPlace) {
  ima::WarmStarts warm;
  warm.store({4, 1}, {placed(0, 0, 0), placed(0, 0, 0)}, torch::cat({ramp2D(), -ramp2D()}));
  auto tensors = warm.tensors();  // ids ascending: row 0 is id 1, row 1 is id 4
  ima::WarmStarts back = ima::WarmStarts::fromTensors(tensors, "checkpoint 'c'");
  back.store({4}, {placed(0, 0, 0)}, torch::full({1, 1, 4, 4}, 7.0f));
  const torch::Tensor& deltas = tensors[2].second;
  EXPECT_TRUE(torch::equal(deltas[1], torch::full({1, 1, 4, 4}, 7.0f)));
  EXPECT_TRUE(torch::equal(deltas[0], -ramp2D().reshape({1, 1, 4, 4})));
  EXPECT_TRUE(torch::equal(back.recall({4}, {placed(0, 0, 0)}, torch::zeros({1, 1, 4, 4})).delta,
                           torch::full({1, 1, 4, 4}, 7.0f)));
  EXPECT_TRUE(torch::equal(back.recall({1}, {placed(0, 0, 0)}, torch::zeros({1, 1, 4, 4})).delta, -ramp2D()));
  // A non-finite value in a checkpoint's table is refused, wherever it is.
  tensors[2].second[1][0][0][2][3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(ima::WarmStarts::fromTensors(tensors, "checkpoint 'c'"), ima::Error);
  tensors[2].second[1][0][0][2][3] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(ima::WarmStarts::fromTensors(tensors, "checkpoint 'c'"), ima::Error);
}

// Sharded data parallel keeps a rank's own id range: the others are dropped, and the kept ones are
// copied out of the checkpoint's tensor (later writes to it do not reach them, so it can be freed).
TEST(WarmStarts, KeepOnlyDropsOtherIdsAndLetsGoOfTheCheckpointsTensor) {
  ima::WarmStarts warm;
  warm.store({2, 5, 3, 7}, {}, torch::cat({ramp2D(), -ramp2D(), 2 * ramp2D(), 3 * ramp2D()}));
  auto tensors = warm.tensors();  // rows: ids 2, 3, 5, 7
  ima::WarmStarts back = ima::WarmStarts::fromTensors(tensors, "checkpoint 'c'");
  back.keepOnly([](int64_t id) { return id >= 3 && id < 7; });
  EXPECT_EQ(back.size(), 2);
  auto kept = back.tensors();
  EXPECT_TRUE(torch::equal(kept[0].second, torch::tensor(std::vector<int64_t>{3, 5})));
  tensors[2].second.fill_(9.0f);  // the checkpoint's tensor, which the table viewed before
  EXPECT_TRUE(torch::equal(back.recall({3}, {}, torch::zeros({1, 1, 4, 4})).delta, 2 * ramp2D()));
  EXPECT_TRUE(torch::equal(back.recall({5}, {}, torch::zeros({1, 1, 4, 4})).delta, -ramp2D()));
  for (int64_t dropped : {2, 7}) EXPECT_FALSE(back.recall({dropped}, {}, torch::zeros({1, 1, 4, 4})).found.item<bool>());
}

}  // namespace WarmStartsGTest
