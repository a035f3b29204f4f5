// content_id.h: the canonical decimal against hand-written values, and the uuid's shape and field
// boundaries (its bytes are checked against an independent Python computation in test_loader).
#include "spec/content_id.h"

#include <gtest/gtest.h>

#include <re2/re2.h>

using starstream::daemon::spec::content_id::canonical_decimal;
using starstream::daemon::spec::content_id::json_number_decimal;
using starstream::daemon::spec::content_id::uuid_of;

TEST(ContentId, CanonicalDecimal) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"31.90", "31.9"}, {"031.9", "31.9"}, {"+31.900", "31.9"}, {"0000000000000031.90", "31.9"}, {"20", "20"}, {"20.0", "20"},
        {"0", "0"}, {"-0.00", "0"}, {"+0", "0"}, {".5", "0.5"}, {"5.", "5"}, {"0.050", "0.05"}, {"-12.50", "-12.5"},
        {"1.5e3", "1500"}, {"2E+1", "20"}, {"-2E-2", "-0.02"}, {"123.45e-5", "0.0012345"}, {"1e0", "1"}, {"100e-2", "1"}};
    for (const auto& [text, canonical] : cases) EXPECT_EQ(canonical_decimal(text), canonical) << text;
}

TEST(ContentId, AJsonNumberAsTheShortestPlainDecimal) {
    const std::vector<std::pair<double, std::string>> cases = {
        {629.79298, "629.79298"}, {477.40822, "477.40822"}, {949.36282688, "949.36282688"}, {269518.2212, "269518.2212"},
        {31.9, "31.9"}, {0.1, "0.1"}, {1e21, "1000000000000000000000"}, {1e-6, "0.000001"}, {-2.5, "-2.5"}, {0.0, "0"}};
    for (const auto& [value, text] : cases) EXPECT_EQ(json_number_decimal(value), text) << text;
    EXPECT_EQ(json_number_decimal(5e-324).size(), 2 + 323 + 1);  // "0." then the least subnormal's digits
}

TEST(ContentId, AnRfc9562Version8UuidWhoseFieldBoundariesCannotMove) {
    std::string a, b, c;
    uuid_of({"ab", "c"}, a);
    uuid_of({"a", "bc"}, b);
    uuid_of({"ab", "c"}, c);
    EXPECT_TRUE(RE2::FullMatch(a, "[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")) << a;
    EXPECT_NE(a, b);
    EXPECT_EQ(a, c);
    uuid_of({"", "abc"}, b);
    uuid_of({"abc", ""}, c);
    EXPECT_NE(b, c);
}
