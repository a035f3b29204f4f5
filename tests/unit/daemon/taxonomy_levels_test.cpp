// taxonomy_levels (spec/enricher_runtime.h): a dotted category code split into its levels.
#include "spec/enricher_runtime.h"

#include <gtest/gtest.h>

using namespace starstream::daemon;

TEST(TaxonomyLevels, SplitsACategoryCodeAtItsDots) {
    using Levels = std::array<std::string_view, 3>;
    EXPECT_EQ(spec::taxonomy_levels("electronics.audio.headphone"), (Levels{"electronics", "audio", "headphone"}));
    EXPECT_EQ(spec::taxonomy_levels("kids.toys"), (Levels{"kids", "toys", ""}));
    EXPECT_EQ(spec::taxonomy_levels("sport"), (Levels{"sport", "", ""}));
    EXPECT_EQ(spec::taxonomy_levels("a.b.c.d"), (Levels{"a", "b", "c.d"}));
    EXPECT_EQ(spec::taxonomy_levels(""), (Levels{"", "", ""}));
}
