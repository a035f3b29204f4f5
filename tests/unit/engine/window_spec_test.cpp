#include "window/window_spec.h"

#include <gtest/gtest.h>

using namespace starstream::engine;

TEST(WindowSpec, Tumbling) {
    WindowSpec s{WindowKind::tumbling, 60};
    EXPECT_EQ(assign_windows(s, 125), (std::vector<Window>{{120, 180}}));
    EXPECT_EQ(assign_windows(s, 120), (std::vector<Window>{{120, 180}}));
    EXPECT_EQ(assign_windows(s, -1), (std::vector<Window>{{-60, 0}}));
}

TEST(WindowSpec, HoppingCoversEveryWindowContainingTheTime) {
    WindowSpec s{WindowKind::hopping, 60, 20};
    EXPECT_EQ(assign_windows(s, 125), (std::vector<Window>{{80, 140}, {100, 160}, {120, 180}}));
    EXPECT_EQ(assign_windows(s, 120), (std::vector<Window>{{80, 140}, {100, 160}, {120, 180}}));
}

TEST(WindowSpec, CumulativeWindowsShareTheStartAndGrowByStep) {
    WindowSpec s{WindowKind::cumulative, 240, 60};  // a "day" of 240 in "hours" of 60
    EXPECT_EQ(assign_windows(s, 250), (std::vector<Window>{{240, 300}, {240, 360}, {240, 420}, {240, 480}}));
    EXPECT_EQ(assign_windows(s, 479), (std::vector<Window>{{240, 480}}));
}

TEST(WindowSpec, InvalidSpecsAreRejected) {
    EXPECT_THROW((WindowSpec{WindowKind::tumbling, 0}.validate()), std::invalid_argument);
    EXPECT_THROW((WindowSpec{WindowKind::hopping, 60, 7}.validate()), std::invalid_argument);
    EXPECT_THROW((WindowSpec{WindowKind::session, 0, 0, 0}.validate()), std::invalid_argument);
    EXPECT_NO_THROW((WindowSpec{WindowKind::session, 0, 0, 30}.validate()));
}
